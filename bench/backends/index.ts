/** Every bench backend, in the order the table shows them. Later backends register here. */
import type { BenchBackend } from "../types.js";
import { baseline } from "./baseline.js";
import { memory } from "./memory.js";
import { pythonMemory } from "./python.js";
import { pythonRedis, redis } from "./redis.js";

export const BACKENDS: BenchBackend[] = [baseline, memory, pythonMemory, redis, pythonRedis];
