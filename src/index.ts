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
export { RedisChannelLayer, type RedisLayerOptions } from "./redis/layer.js";
export type { RedisHost, PythonStyleHost, ClientFactory } from "./redis/connections.js";
