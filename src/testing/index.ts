/**
 * `channel-layers/testing`: test an app's consumers without a server, and a
 * channel layer backend against the project's conformance suite.
 */
export { WebSocketCommunicator, type CommunicatorOptions, type CloseEvent, type ConnectResult, type TimeoutOption } from "./websocket.js";
export { ConsumerCommunicator, type ConsumerCommunicatorOptions } from "./consumer.js";
export { TestClock } from "./clock.js";
export { describeChannelLayer, type Capability, type ChannelLayerSuiteOptions } from "./describe.js";
export { CONFORMANCE_GROUP_HISTORY } from "./conformance/history.js";
