/** Every bench backend, in the order the table shows them. Later backends register here. */
import type { BenchBackend } from "../types.js";
import { abuse } from "./abuse.js";
import { baseline } from "./baseline.js";
import { tcp, tcpMetrics, unix } from "./broker.js";
import { ipc } from "./ipc.js";
import { memory, memoryTraffic } from "./memory.js";
import { pythonMemory } from "./python.js";
import { pythonBroker } from "./python-broker.js";
import { pythonRedis, redis, redisCluster, redisCluster3Slots, redisClusterMasters, redisReadAhead } from "./redis.js";
import { pythonRedisPubsub, redisPubsub } from "./redis-pubsub.js";
import { socketio } from "./socketio.js";
import { websocket } from "./websocket.js";
import { gateway } from "./gateway.js";
import { bigroom } from "./bigroom.js";
import { memoryHistory, redisHistory, tcpHistory } from "./history.js";

export const BACKENDS: BenchBackend[] = [baseline, memory, memoryTraffic, memoryHistory, pythonMemory, websocket, socketio, tcp, tcpMetrics, tcpHistory, unix, ipc, redis, redisHistory, redisReadAhead, redisCluster, redisClusterMasters, redisCluster3Slots, pythonRedis, pythonBroker, redisPubsub, pythonRedisPubsub, bigroom, gateway, abuse];
