/**
 * A client's hello, judged: whether the broker has room, speaks its protocol
 * version, knows its token, and whether its instance id is the one derived
 * from the secret it presents (identity.ts). The first refusal that applies is
 * the one the client hears; an admitted client is told the broker's settings.
 */
import { AuthenticationError, ConnectionLostError, ProtocolError } from "../errors.js";
import type { Grant } from "./auth.js";
import type { HelloRequest } from "./decode.js";
import { PROTOCOL_VERSION, type HelloInfo } from "./ops.js";
import type { SessionHost } from "./session-host.js";

export type HelloVerdict = { refusal: Error } | { refusal: undefined; instanceId: string; grant: Grant; info: HelloInfo };

/** Judge `hello`; `full` when the broker is at its connection limit. */
export function judgeHello(broker: SessionHost, { version, instanceId, token, secret }: HelloRequest, full: boolean): HelloVerdict {
  if (full) return { refusal: new ConnectionLostError(`the broker is at its connection limit (${broker.maxConnections}); retry later`) };
  if (version !== PROTOCOL_VERSION) {
    return {
      refusal: new ProtocolError(
        `protocol version ${String(version)} is not supported: this broker speaks version ${PROTOCOL_VERSION}; ` +
          "use the same channel-layers version on client and broker",
      ),
    };
  }
  const grant = broker.grantFor(token);
  if (grant === undefined) {
    return {
      refusal: new AuthenticationError(token == null ? "the broker requires a token: pass { token } to the layer" : "the broker refused the token"),
    };
  }
  if (!broker.validInstanceId(instanceId)) return { refusal: new ProtocolError("hello: instanceId must be 1 to 64 ASCII letters and digits") };
  const attached = broker.attach(instanceId, secret);
  if (attached === undefined) {
    return {
      refusal: new AuthenticationError(`instance id "${instanceId}" is not the one derived from the secret presented (docs/broker.md "Instance identity")`),
    };
  }
  const { maxMessageBytes, expiry, groupExpiry, capacity } = broker.config;
  const info: HelloInfo = {
    version: PROTOCOL_VERSION,
    maxMessageBytes,
    maxFrameBytes: broker.maxFrameBytes,
    expiry,
    groupExpiry,
    capacity: capacity.defaultCapacity,
    epoch: broker.epoch,
    resumed: attached.resumed,
  };
  return { refusal: undefined, instanceId, grant, info };
}
