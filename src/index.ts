export type { ChannelLayer, ChannelCapacity, Extension, LayerOptions, Message, MessageValue, ReceiveOptions } from "./layer.js";
export { DEFAULTS } from "./layer.js";
export {
  AuthenticationError,
  ChannelFullError,
  ChannelLayerError,
  ConnectionLostError,
  InvalidChannelNameError,
  InvalidGroupNameError,
  LayerClosedError,
  MessageTooLargeError,
  ProtocolError,
  type ErrorCode,
} from "./errors.js";
export { InMemoryChannelLayer, type InMemoryLayerOptions } from "./memory.js";
export type { EngineStats, EngineCounters } from "./engine/engine.js";
export { createChannelLayer } from "./url.js";
export { nonLocalName, isProcessLocal } from "./names.js";
export { RemoteChannelLayer, type RemoteLayerOptions } from "./remote/client.js";
export { BrokerServer, type BrokerServerOptions } from "./remote/server.js";
export { DEFAULT_PORT as DEFAULT_BROKER_PORT } from "./remote/address.js";
export type { BrokerOptions } from "./protocol/broker.js";
export type { BrokerStats } from "./protocol/ops.js";
export type { ProtocolLayerOptions } from "./protocol/client.js";
