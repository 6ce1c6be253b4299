export type {
  BundledChannelLayer,
  ChannelLayer,
  ChannelCapacity,
  Extension,
  GroupHistory,
  GroupHistoryOptions,
  GroupHistoryReadOptions,
  GroupHistoryRule,
  HistoryPosition,
  LayerOptions,
  Message,
  MessageValue,
  ReceiveOptions,
  SendOptions,
  GroupSendOptions,
} from "./layer.js";
export type { DeadLetterOptions, DropReason, OverflowPolicy, RateLimit, TrafficOptions } from "./options/traffic.js";
export type { PatternMap } from "./options/patterns.js";
export { DEFAULTS } from "./layer.js";
export { POSITION_KEY } from "./options/history.js";
export { resumeGroup, type GroupResume } from "./client/resume.js";
export type { GapReason, LayerEvents, LayerGap, LayerState, RequestOptions } from "./layer.js";
export type {
  GroupAddOptions,
  GroupPresenceRule,
  PresenceEntry,
  PresenceEvent,
  PresenceInfo,
  PresenceOptions,
  PresencePage,
  PresenceQuery,
} from "./layer.js";
export { PRESENCE_PAGE, PRESENCE_PAGE_MAX } from "./options/presence.js";
export {
  AuthenticationError,
  ForbiddenError,
  ChannelFullError,
  ChannelLayerError,
  ConnectionLostError,
  InvalidChannelNameError,
  InvalidGroupNameError,
  LayerClosedError,
  MessageTooLargeError,
  ProtocolError,
  RateLimitedError,
  BrokerFullError,
  RequestFailedError,
  RequestTimeoutError,
  NoHandlerError,
  InvalidMessageError,
  InvalidMessageTypeError,
  NoGroupHistoryError,
  BadFrameError,
  type ErrorCode,
} from "./errors.js";
export { InMemoryChannelLayer, type InMemoryLayerOptions } from "./memory.js";
export type { EngineStats, EngineCounters, EngineTop } from "./engine/engine.js";
export { createChannelLayer } from "./url.js";
export { nonLocalName, isProcessLocal } from "./names.js";
export { request } from "./request/request.js";
export type { ReplyCacheStats, RequestCounters, RequestStats } from "./stats.js";
export { createGateway, type Gateway, type GatewayCounters, type GatewayOptions } from "./gateway/gateway.js";
export type { GatewayRoute } from "./gateway/routes.js";
export { runWorker, type Handler, type Handlers, type HandlerContext, type Worker, type WorkerOptions } from "./consumer/worker.js";
export {
  Consumer,
  type ConsumerErrorContext,
  type ConsumerErrorHook,
  type ConsumerInit,
  type ConsumerOptions,
  type ErrorPolicy,
} from "./consumer/consumer.js";
export type { GroupPosition, GroupResumed, GroupResumeOptions } from "./consumer/resumed-groups.js";
export { WebSocketConsumer, type WebSocketInit, type WebSocketScope, type Upgrade, type WebSocketLike } from "./consumer/websocket.js";
export { JsonWebSocketConsumer } from "./consumer/json.js";
export type { Ack } from "./consumer/acks.js";
export { cookieAuth, type SessionLookup } from "./consumer/cookie-auth.js";
export { CloseCode } from "./consumer/close-codes.js";
export type { FrameFormat } from "./consumer/frames.js";
export { serve, type Authenticate, type ServeOptions, type WebSocketApp, type WebSocketRoute, type WebSocketService } from "./consumer/serve.js";
export type { AllowedOrigins } from "./consumer/origins.js";
export { Throttle, type ThrottleOptions, type OverLimit } from "./consumer/throttle.js";
export { RemoteChannelLayer, type RemoteLayerOptions } from "./transport/remote-layer.js";
export { BrokerServer, type BrokerServerOptions } from "./transport/broker-server.js";
export { DEFAULT_PORT as DEFAULT_BROKER_PORT } from "./transport/address.js";
export type { Broker, BrokerOptions } from "./protocol/broker.js";
export type { BrokerDetails, BrokerStats, ClientInfo } from "./protocol/ops.js";
export type { BrokerLayerStats, ClientLinkStats, EngineLayerStats, LayerCounters, LayerStats } from "./stats.js";
export type { ProtocolLayerOptions } from "./protocol/client.js";
export { IpcChannelLayer, type IpcLayerOptions } from "./ipc/layer.js";
export { serveIpc, type IpcServer, type IpcServeOptions, type IpcTarget } from "./ipc/serve.js";
export { RedisChannelLayer, type RedisLayerOptions } from "./redis/layer.js";
export { RedisPubSubChannelLayer, type RedisPubSubLayerOptions } from "./redis/pubsub/layer.js";
export type { RedisHost, PythonStyleHost, ClientFactory } from "./redis/connections.js";
export type { RedisClusterOptions } from "./redis/cluster.js";
