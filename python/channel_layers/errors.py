"""What the broker's error codes become in Python (src/protocol/errors.ts
lists the codes). A full channel is Channels' own ChannelFull; a bad name is
the TypeError Channels raises for one; the rest are BrokerError subclasses
carrying the broker's code."""
from channels.exceptions import ChannelFull


class BrokerError(Exception):
    """An error the broker reported, or the connection to it."""

    code = "ERR_PROTOCOL"

    def __init__(self, message, code=None):
        super().__init__(message)
        if code is not None:
            self.code = code


class ConnectionLost(BrokerError):
    """The broker is unreachable, or the connection broke while a request was in flight."""

    code = "ERR_CONNECTION_LOST"


class BrokerRefused(BrokerError):
    """The broker refused this client's hello (token or protocol version): retrying does not help."""


class Forbidden(BrokerError):
    """The token does not allow this call."""

    code = "ERR_FORBIDDEN"


class MessageTooLarge(BrokerError, ValueError):
    """The message encodes larger than the broker's maxMessageBytes."""

    code = "ERR_MESSAGE_TOO_LARGE"


class LayerClosed(BrokerError):
    code = "ERR_LAYER_CLOSED"


_CLASSES = {
    "ERR_CONNECTION_LOST": ConnectionLost,
    "ERR_FORBIDDEN": Forbidden,
    "ERR_MESSAGE_TOO_LARGE": MessageTooLarge,
    "ERR_LAYER_CLOSED": LayerClosed,
}


def from_wire(code, message, details):
    text = message if isinstance(message, str) else "the broker reported an error without a message"
    if code == "ERR_CHANNEL_FULL":
        channel = details[0] if isinstance(details, list) and details else None
        return ChannelFull(channel)
    if code in ("ERR_INVALID_CHANNEL_NAME", "ERR_INVALID_GROUP_NAME"):
        return TypeError(text)
    return _CLASSES.get(code, BrokerError)(text, code if isinstance(code, str) else None)
