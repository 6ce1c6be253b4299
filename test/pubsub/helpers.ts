import { REDIS_URL, testPrefix } from "../redis/helpers.js";
import { RedisPubSubChannelLayer, type RedisPubSubLayerOptions } from "../../src/redis/pubsub/layer.js";

export { REDIS_URL, testPrefix };

export function makePubSub(prefix: string, options: RedisPubSubLayerOptions = {}): RedisPubSubChannelLayer {
  return new RedisPubSubChannelLayer({ hosts: [REDIS_URL], prefix, connectionLostTimeout: 3000, ...options });
}

/** Why a case cannot hold on pub/sub, one reason per capability (docs/pubsub.md says the same). */
export const PUBSUB_LACKS = {
  storesForAbsentReceivers:
    "Redis pub/sub stores nothing: a message published to a channel no layer is subscribed to is gone " +
    "(a normal channel is subscribed from its first receive or groupAdd on, a ! channel from newChannel)",
  balancesAcrossInstances: "PUBLISH delivers to every subscriber: each layer receiving on a normal channel gets its own copy",
  sharedGroups: "a group membership lives in the layer that called groupAdd (it subscribes to the group's channel for its own channels)",
  senderSeesCapacity:
    "a PUBLISH cannot know a subscriber's buffer: the receiving layer drops what its full buffer cannot hold and counts it (stats droppedOverflow)",
  bareNewChannelNames: "newChannel names start with the layer prefix as channels_redis' pubsub layer makes them (asgispecific.…)",
} as const;
