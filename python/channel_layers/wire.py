"""The broker protocol as this client speaks it (src/protocol/ops.ts is the
reference): length-prefixed msgpack stream frames, each holding an array of
protocol frames.

    request   [op, id, *args]          id: a uint32 chosen by the client
    response  [id, status, *result]
"""
import base64
import hashlib
import secrets

import msgpack

#: Must equal PROTOCOL_VERSION in src/protocol/ops.ts (test/python/version.test.ts checks).
PROTOCOL_VERSION = 4


class Op:
    HELLO = 0
    SEND = 1
    RECEIVE = 2
    CANCEL = 3
    REQUEUE = 4
    GROUP_ADD = 5
    GROUP_DISCARD = 6
    GROUP_SEND = 7
    FLUSH = 8
    PING = 9


class Status:
    OK = 0
    ERROR = 1
    CANCELLED = 2
    PARTIAL = 3


#: Answers about the connection rather than one request (a fatal protocol error).
CONNECTION_ID = 0

#: Room a frame needs beyond its message body (src/protocol/frames.ts FRAME_OVERHEAD).
FRAME_OVERHEAD = 64 * 1024
#: The least this client accepts from a broker, whatever its message limit.
CLIENT_FRAME_FLOOR = 16 * 1024 * 1024
#: A batch past this many bytes goes in several stream frames.
BATCH_SPLIT_BYTES = 256 * 1024

INSTANCE_DOMAIN = "channel-layers/instance/"


def new_identity():
    """A fresh (secret, instance id), as src/protocol/identity.ts draws them:
    the id is derived from the secret, so the broker can check that whoever
    says hello as this id holds the secret; the id alone (in channel names,
    in stats) lets nobody claim it."""
    secret = base64.urlsafe_b64encode(secrets.token_bytes(24)).rstrip(b"=").decode("ascii")
    return secret, instance_id_for(secret)


def instance_id_for(secret):
    """sha256(utf8("channel-layers/instance/" + secret)), lowercase hex, first 16 characters."""
    return hashlib.sha256((INSTANCE_DOMAIN + secret).encode("utf-8")).hexdigest()[:16]


def pack(value):
    return msgpack.packb(value, use_bin_type=True)


def unpack(data):
    return msgpack.unpackb(data, raw=False)


def _array_header(n):
    if n < 16:
        return bytes((0x90 | n,))
    if n < 0x10000:
        return b"\xdc" + n.to_bytes(2, "big")
    return b"\xdd" + n.to_bytes(4, "big")


def encode_batch(frames):
    """Stream frames for a batch of protocol frames: usually one; a batch that
    encodes larger than BATCH_SPLIT_BYTES goes in several, so no stream frame
    is much larger than its largest message."""
    out = []
    parts = []
    size = 0
    for frame in frames:
        packed = pack(frame)
        if parts and size + len(packed) > BATCH_SPLIT_BYTES:
            out.append(_stream_frame(parts))
            parts, size = [], 0
        parts.append(packed)
        size += len(packed)
    if parts:
        out.append(_stream_frame(parts))
    return b"".join(out)


def _stream_frame(parts):
    body = _array_header(len(parts)) + b"".join(parts)
    return len(body).to_bytes(4, "big") + body


class FrameError(Exception):
    """The broker's bytes are not frames: the connection cannot be trusted past them."""


class FrameReader:
    """Turns chunks of the stream back into protocol frames."""

    def __init__(self, max_frame_bytes=CLIENT_FRAME_FLOOR):
        self.max_frame_bytes = max_frame_bytes
        self._buf = bytearray()

    def feed(self, data):
        buf = self._buf
        buf += data
        frames = []
        offset = 0
        end = len(buf)
        while end - offset >= 4:
            length = int.from_bytes(buf[offset:offset + 4], "big")
            if length > self.max_frame_bytes:
                raise FrameError(f"the broker sent a frame of {length} bytes, over this client's limit of {self.max_frame_bytes}")
            if end - offset - 4 < length:
                break
            try:
                batch = msgpack.unpackb(buf[offset + 4:offset + 4 + length], raw=False, strict_map_key=False)
            except Exception as err:
                raise FrameError(f"the broker sent a frame that is not msgpack: {err}") from None
            if not isinstance(batch, list):
                raise FrameError("the broker sent a stream frame that is not an array of frames")
            frames.extend(batch)
            offset += 4 + length
        if offset:
            del buf[:offset]
        return frames
