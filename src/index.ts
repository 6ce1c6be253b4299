export type { ChannelLayer, ChannelCapacity, Extension, LayerOptions, Message, MessageValue, ReceiveOptions, SendOptions } from "./layer.js";
export type { DeadLetterOptions, DropReason, OverflowPolicy, RateLimit, TrafficOptions } from "./traffic.js";
export type { PatternMap } from "./patterns.js";
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
  RateLimitedError,
  type ErrorCode,
} from "./errors.js";
export { InMemoryChannelLayer, type InMemoryLayerOptions } from "./memory.js";
export type { EngineStats, EngineCounters, EngineTop } from "./engine/engine.js";
export { createChannelLayer } from "./url.js";
export { nonLocalName, isProcessLocal } from "./names.js";
export { runWorker, NoHandlerError, type Handler, type Handlers, type HandlerContext, type Worker, type WorkerOptions } from "./worker.js";
