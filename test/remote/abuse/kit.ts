/** What an attacker process (`attacker()` in helpers.ts) has in scope: the raw-socket helpers and the ops. */
export { frameBytes, helloFrame, rawSocket, sleep } from "./helpers.js";
export { Op } from "../../../src/protocol/ops.js";
