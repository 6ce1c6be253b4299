"""Django Channels' channel layer for the channel-layers broker (docs/python.md)."""
from .errors import BrokerError, BrokerRefused, ConnectionLost, Forbidden, LayerClosed, MessageTooLarge
from .layer import BrokerChannelLayer
from .wire import PROTOCOL_VERSION

__all__ = [
    "BrokerChannelLayer",
    "BrokerError",
    "BrokerRefused",
    "ConnectionLost",
    "Forbidden",
    "LayerClosed",
    "MessageTooLarge",
    "PROTOCOL_VERSION",
]
__version__ = "0.1.0"
