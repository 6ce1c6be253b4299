"""BrokerChannelLayer: Django Channels' layer API over the channel-layers
broker (`channel-layers serve`), so Django and Node processes share channels
and groups without Redis (docs/python.md)."""
import asyncio
import random
import ssl
import string
import time
import warnings

from channels.layers import BaseChannelLayer

from . import wire
from .address import parse_address
from .connection import Connection, log
from .errors import MessageTooLarge
from .wire import Op

_UNIQUE = string.ascii_letters + string.digits
_BROKER_SETTINGS = ("expiry", "group_expiry", "capacity")


class BrokerChannelLayer(BaseChannelLayer):
    """A channel layer whose channels and groups live in the broker at `url`.

    Expiry, group expiry and capacity are the broker's (`channel-layers serve
    --expiry/--group-expiry/--capacity`): they apply to every client's
    channels. Values given here that differ from the broker's draw a warning,
    and the attributes take the broker's values once connected.
    """

    extensions = ["groups", "flush"]

    def __init__(
        self,
        url="tcp://127.0.0.1:6741",
        token=None,
        token_file=None,
        ssl_context=None,
        ca_file=None,
        expiry=None,
        group_expiry=None,
        capacity=None,
        channel_capacity=None,
        connect_timeout=10.0,
        heartbeat_interval=5.0,
        max_reconnect_delay=2.0,
    ):
        super().__init__(expiry=expiry or 60, capacity=capacity or 100, channel_capacity=None)
        self.group_expiry = group_expiry or 86400
        self.address = parse_address(url)
        self.token = _token(token, token_file, self.address.token)
        if ssl_context is not None and not isinstance(ssl_context, ssl.SSLContext):
            raise TypeError("ssl_context must be an ssl.SSLContext")
        if ca_file is not None:
            ssl_context = ssl_context or ssl.create_default_context(cafile=ca_file)
        self.ssl_context = ssl_context
        self.connect_timeout = _seconds(connect_timeout, "connect_timeout")
        self.heartbeat_interval = _seconds(heartbeat_interval, "heartbeat_interval")
        self.max_reconnect_delay = _seconds(max_reconnect_delay, "max_reconnect_delay")
        if channel_capacity:
            warnings.warn(
                "channel_capacity has no effect on BrokerChannelLayer: capacities are the broker's "
                "(channel-layers serve --capacity, BrokerServer({ channelCapacity }))",
                stacklevel=2,
            )
        self._own_settings = {"expiry": expiry, "group_expiry": group_expiry, "capacity": capacity}
        # The instance id names this layer's `!` channels; the broker accepts it only from a hello presenting its secret.
        self.secret, self.instance_id = wire.new_identity()
        self._epoch = None
        #: (group, channel) -> when it was (last) added, by time.monotonic(): restored on a broker that lost them.
        self._memberships = {}
        self._connections = {}

    # ---- Channels' layer API

    async def send(self, channel, message):
        assert isinstance(message, dict), "message is not a dict"
        self.valid_channel_name(channel)
        conn = self._connection()
        await conn.call([Op.SEND, 0, channel, self._encode(message, conn)])

    async def receive(self, channel):
        self.valid_channel_name(channel)
        body = await self._connection().receive(channel)
        message = wire.unpack(body)
        if not isinstance(message, dict):
            raise TypeError(f"a message received on {channel} decoded to {type(message).__name__}, not a dict (another client sent it)")
        return message

    async def new_channel(self, prefix="specific"):
        """A process-local channel name (`prefix.<instance id>!<unique>`): only this layer may receive from it."""
        name = f"{prefix.rstrip('.')}.{self.instance_id}!{''.join(random.choices(_UNIQUE, k=12))}"
        self.valid_channel_name(name)
        return name

    async def group_add(self, group, channel):
        self.valid_group_name(group)
        self.valid_channel_name(channel)
        key = (group, channel)
        at = self._memberships[key] = time.monotonic()
        try:
            await self._connection().call([Op.GROUP_ADD, 0, group, channel])
        except BaseException:
            if self._memberships.get(key) == at:
                del self._memberships[key]
            raise

    async def group_discard(self, group, channel):
        self.valid_group_name(group)
        self.valid_channel_name(channel)
        self._memberships.pop((group, channel), None)
        await self._connection().call([Op.GROUP_DISCARD, 0, group, channel])

    async def group_send(self, group, message):
        assert isinstance(message, dict), "message is not a dict"
        self.valid_group_name(group)
        conn = self._connection()
        await conn.call([Op.GROUP_SEND, 0, group, self._encode(message, conn)])

    async def flush(self):
        """Empties every channel and group in the broker (needs an admin token when the broker has tokens)."""
        self._memberships.clear()
        await self._connection().call([Op.FLUSH, 0])

    async def close(self):
        """Ends this event loop's connection; a later call connects again."""
        conn = self._connections.pop(asyncio.get_running_loop(), None)
        if conn is not None:
            await conn.close()

    # ---- connections: one per event loop (async_to_sync runs each call in a loop of its own)

    def _connection(self):
        loop = asyncio.get_running_loop()
        conn = self._connections.get(loop)
        if conn is None or conn.closing:
            conn = self._connections[loop] = Connection(self, loop)
            _close_with_loop(self, loop)
        return conn

    def _encode(self, message, conn):
        body = wire.pack(message)
        if len(body) > conn.max_message_bytes:
            raise MessageTooLarge(f"the message encodes to {len(body)} bytes, over the broker's limit of {conn.max_message_bytes} (maxMessageBytes)")
        return body

    def hello_info(self, info):
        """A connection said hello: take the broker's settings, and return the
        memberships to add again, with the seconds each has left, if the
        broker lost them (it restarted, or dropped this instance)."""
        for key, wire_key in (("expiry", "expiry"), ("group_expiry", "groupExpiry"), ("capacity", "capacity")):
            value = info.get(wire_key)
            if not isinstance(value, (int, float)):
                continue
            mine = self._own_settings.get(key)
            if mine is not None and mine != value:
                warnings.warn(f"the broker at {self.address} sets {key}={value}; this layer's {key}={mine} has no effect "
                              "(the broker's settings apply to every client)")
            setattr(self, key, value)
        self._own_settings = {}
        epoch = info.get("epoch")
        previous, self._epoch = self._epoch, epoch
        if not isinstance(epoch, str) or previous is None:
            return []
        if previous == epoch and info.get("resumed") is not False:
            return []
        now = time.monotonic()
        live = []
        for (group, channel), at in list(self._memberships.items()):
            left = at + self.group_expiry - now
            if left > 0:
                live.append((group, channel, left))
            else:
                del self._memberships[(group, channel)]
        if live:
            reason = "restarted" if previous != epoch else "had dropped this client"
            log.warning("the broker at %s %s: adding %d group membership(s) again", self.address, reason, len(live))
        return live


def _close_with_loop(layer, loop):
    """Closing a loop closes the layer's connection in it first (asyncio.run and async_to_sync close theirs)."""
    original = loop.close

    def close():
        conn = layer._connections.get(loop)
        if conn is not None and not loop.is_closed() and not loop.is_running():
            del layer._connections[loop]
            loop.run_until_complete(conn.close())
        return original()

    loop.close = close


def _token(token, token_file, from_url):
    given = [name for name, value in (("token", token), ("token_file", token_file), ("the url's password", from_url)) if value]
    if len(given) > 1:
        raise ValueError(f"give the broker token one way only, not {' and '.join(given)}")
    if token_file:
        try:
            with open(token_file, encoding="utf-8") as f:
                token = f.read().strip()
        except OSError as err:
            raise ValueError(f"cannot read token_file {token_file}: {err.strerror}") from None
        if not token:
            raise ValueError(f"token_file {token_file} is empty")
    token = token or from_url
    if token is not None and not isinstance(token, str):
        raise TypeError("token must be a string")
    return token


def _seconds(value, name):
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
        raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
    return float(value)
