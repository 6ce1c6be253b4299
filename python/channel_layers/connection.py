"""One connection to the broker, for one asyncio event loop: request ids and
the calls awaiting answers, every request made in one turn of the loop in
one write, receives as long polls (one per channel at a time: nothing is
read ahead), cancellation that loses nothing, heartbeats, and reconnecting
with backoff. src/protocol/client.ts is the Node client of the same
protocol; docs/broker.md says what the broker promises.
"""
import asyncio
import collections
import logging
import random
import ssl

from . import wire
from .errors import BrokerRefused, ConnectionLost, LayerClosed, from_wire
from .wire import CONNECTION_ID, Op, Status

log = logging.getLogger("channel_layers")

#: Past this many frames queued in one turn, they leave at once (src/protocol/client.ts WRITE_BATCH).
WRITE_BATCH = 32
#: Seconds close() waits for the answers still owed (calls in flight, cancelled receives).
CLOSE_WAIT = 2.0


class _Request:
    __slots__ = ("frame", "future", "channel", "link", "abandoned", "finished", "unlocked")

    def __init__(self, frame, future, channel):
        self.frame = frame
        self.future = future
        #: Set for a receive: the channel it waits on.
        self.channel = channel
        #: The link it was written on; None while it waits for one.
        self.link = None
        #: A receive whose caller gave up: what the broker still hands it goes back.
        self.abandoned = False
        #: It left `pending` for good.
        self.finished = False
        #: The channel's turn it held was passed on.
        self.unlocked = False

    @property
    def id(self):
        return self.frame[1]


class _Link(asyncio.Protocol):
    """A socket to the broker; a new one for every (re)connection."""

    def __init__(self, conn):
        self.conn = conn
        self.reader = wire.FrameReader()
        self.transport = None
        self.closed = conn.loop.create_future()

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        try:
            frames = self.reader.feed(data)
        except wire.FrameError as err:
            self.conn.last_error = err
            self.transport.abort()
            return
        for frame in frames:
            self.conn.on_frame(self, frame)

    def connection_lost(self, exc):
        if not self.closed.done():
            self.closed.set_result(None)
        self.conn.on_lost(self, exc)


class Connection:
    def __init__(self, layer, loop):
        self.layer = layer
        self.loop = loop
        self.address = layer.address
        self.link = None
        self.ready = False
        #: Requests awaiting an answer, by id: written, or waiting in `outbox`.
        self.pending = {}
        #: Requests made while there was no ready link, in order.
        self.outbox = []
        #: Frames for the next write.
        self.batch = []
        self.flush_handle = None
        self.last_id = 0
        #: channel -> receives waiting for their turn: one receive per channel is in the broker at a time.
        self.turns = {}
        self.closing = False
        self.closed = loop.create_future()
        #: A refusal that retrying cannot fix (token, protocol version).
        self.failure = None
        #: The broker stayed unreachable past connect_timeout: calls fail at once until it is back.
        self.down = False
        self.last_error = None
        self.max_message_bytes = 1024 * 1024
        self.hello_id = 0
        self.backoff = 0
        self.heard = True
        self.wrote = False
        self.silent = 0
        self.down_timer = None
        self.start_down_timer()
        self.heartbeat = loop.call_later(layer.heartbeat_interval, self.beat)
        self.runner = loop.create_task(self.run())

    # ---- calls

    def request(self, frame, channel=None):
        """Queue a request (its id slot is filled in here); the returned request's future settles with the answer."""
        if self.closing:
            raise LayerClosed("the channel layer was closed")
        if self.failure is not None:
            raise self.failure
        if self.down:
            raise self.lost_error()
        frame[1] = self.new_id()
        req = _Request(frame, self.loop.create_future(), channel)
        self.pending[req.id] = req
        if self.ready:
            req.link = self.link
            self.queue(frame)
        else:
            self.outbox.append(req)
        return req

    async def call(self, frame):
        await self.request(frame).future

    async def receive(self, channel):
        """The next message's body on `channel`. Receives on one channel take
        turns: the broker hands over one message per receive, and nothing
        more, so a process holds no message no receive waits for."""
        await self.take_turn(channel)
        while True:
            try:
                req = self.request([Op.RECEIVE, 0, channel], channel)
            except BaseException:
                self.pass_turn(channel)
                raise
            fut = req.future
            try:
                body = await fut
            except asyncio.CancelledError:
                if fut.cancelled():
                    self.abandon(req)
                else:
                    # Answered, but the caller was cancelled before it resumed: the message goes back to the head.
                    if fut.exception() is None:
                        self.give_back(req)
                    self.unlock(req)
                raise
            except BaseException:
                self.unlock(req)
                raise
            if req.link is self.link:
                # Reported before the caller sees the message, so that a process killed after that
                # never has it handed to another consumer too (docs/semantics.md §4.10).
                self.settle(req, took=1, rest=0)
                self.unlock(req)
                return body
            # The link that brought it dropped before this receive resumed, and the broker took the
            # message back with everything that link held: delivering it too would deliver it twice. Ask again.

    async def take_turn(self, channel):
        waiting = self.turns.get(channel)
        if waiting is None:
            self.turns[channel] = collections.deque()
            return
        turn = self.loop.create_future()
        waiting.append(turn)
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self.pass_turn(channel)  # handed the turn as it was cancelled: the next one has it
            raise

    def pass_turn(self, channel):
        waiting = self.turns.get(channel)
        if waiting is None:
            return
        while waiting:
            turn = waiting.popleft()
            if not turn.done():
                turn.set_result(None)
                return
        del self.turns[channel]

    def unlock(self, req):
        if not req.unlocked:
            req.unlocked = True
            self.pass_turn(req.channel)

    def abandon(self, req):
        """The caller of a receive gave up: the broker is told, and what it may already have sent goes back."""
        if req.finished:
            return self.unlock(req)
        req.abandoned = True
        if req.link is None:
            # Never written: it simply goes.
            self.finish(req)
            if req in self.outbox:
                self.outbox.remove(req)
            self.unlock(req)
        elif req.link is self.link:
            # The channel's turn passes on once the broker answered: Cancelled, or the message, which goes back.
            self.queue([Op.CANCEL, req.id])

    def settle(self, req, took, rest):
        """Report what a receive took (took=1) or give it back to the head (rest=1), on the link that handed it over."""
        if self.ready and req.link is self.link:
            self.queue([Op.REQUEUE, self.new_id(), req.channel, took, rest])
            self.flush()

    def give_back(self, req):
        self.settle(req, took=0, rest=1)

    def finish(self, req):
        req.finished = True
        self.pending.pop(req.id, None)

    # ---- writing

    def new_id(self):
        self.last_id = 1 if self.last_id >= 0xFFFFFFFF else self.last_id + 1
        return self.last_id

    def queue(self, frame):
        self.batch.append(frame)
        if len(self.batch) >= WRITE_BATCH:
            self.flush()
        elif self.flush_handle is None:
            self.flush_handle = self.loop.call_soon(self.flush)

    def flush(self):
        if self.flush_handle is not None:
            self.flush_handle.cancel()
            self.flush_handle = None
        batch = self.batch
        if not batch:
            return
        self.batch = []
        if self.ready:
            self.wrote = True
            self.link.transport.write(wire.encode_batch(batch))

    # ---- the link

    async def run(self):
        """Connect, say hello, wait for the link to end; again, with backoff, until closed or refused."""
        try:
            while not self.closing and self.failure is None:
                link = _Link(self)
                try:
                    await asyncio.wait_for(self.open(link), self.layer.connect_timeout)
                except (OSError, asyncio.TimeoutError) as err:
                    self.last_error = err if isinstance(err, OSError) else ConnectionLost("connecting timed out")
                else:
                    if self.closing:
                        link.transport.close()
                        break
                    self.link = link
                    self.heard = True
                    self.hello_id = self.new_id()
                    layer = self.layer
                    hello = [Op.HELLO, self.hello_id, wire.PROTOCOL_VERSION, layer.instance_id, layer.token, layer.secret]
                    link.transport.write(wire.encode_batch([hello]))
                    await asyncio.shield(link.closed)
                if self.closing or self.failure is not None:
                    break
                delay = min(self.layer.max_reconnect_delay, 0.05 * 2 ** self.backoff)
                self.backoff = min(self.backoff + 1, 16)
                await asyncio.sleep(delay * (0.5 + random.random() / 2))
        except asyncio.CancelledError:
            pass

    async def open(self, link):
        address = self.address
        if address.kind == "unix":
            await self.loop.create_unix_connection(lambda: link, address.path)
        elif address.kind == "tls":
            context = self.layer.ssl_context or ssl.create_default_context()
            await self.loop.create_connection(lambda: link, address.host, address.port, ssl=context)
        else:
            await self.loop.create_connection(lambda: link, address.host, address.port)

    def on_frame(self, link, frame):
        if link is not self.link:
            return
        self.heard = True
        if not isinstance(frame, list) or len(frame) < 2:
            self.last_error = ConnectionLost("the broker sent a frame that is not [id, status, …]")
            return link.transport.abort()
        rid, status = frame[0], frame[1]
        if rid == CONNECTION_ID:
            # The broker found our frames wrong: start afresh.
            self.last_error = from_wire(*(frame[2:5] + [None] * 3)[:3])
            log.error("the broker at %s ended the connection: %s", self.address, self.last_error)
            return link.transport.abort()
        if not self.ready:
            if rid == self.hello_id:
                self.hello(link, status, frame)
            return
        req = self.pending.get(rid)
        if req is None:
            return  # answers to pings
        self.finish(req)
        if req.channel is not None:
            return self.answered(req, status, frame)
        if req.future.done():
            return
        if status == Status.OK:
            req.future.set_result(None)
        else:
            req.future.set_exception(failure_of(status, frame))

    def answered(self, req, status, frame):
        """A receive's answer: [id, Ok, body, deadline, priority], Cancelled, or an error."""
        body = frame[2] if status == Status.OK and len(frame) >= 5 else None
        if req.abandoned or req.future.done():
            if body is not None:
                self.give_back(req)
            return self.unlock(req)
        if body is not None:
            req.future.set_result(body)
        elif status == Status.OK:
            req.future.set_exception(ConnectionLost("the broker answered a receive without a message"))
        else:
            req.future.set_exception(failure_of(status, frame))

    def hello(self, link, status, frame):
        if status != Status.OK:
            err = from_wire(*(frame[2:5] + [None] * 3)[:3])
            if not isinstance(err, ConnectionLost):
                # A wrong token or protocol version does not get better by retrying.
                self.failure = BrokerRefused(f"the broker at {self.address} refused this client: {err}", getattr(err, "code", None))
                log.error("%s", self.failure)
                self.fail_all(self.failure)
            else:
                self.last_error = err
            return link.transport.close()
        info = frame[2] if len(frame) > 2 and isinstance(frame[2], dict) else {}
        limit = info.get("maxMessageBytes")
        if isinstance(limit, int) and limit > 0:
            self.max_message_bytes = limit
            link.reader.max_frame_bytes = max(limit + wire.FRAME_OVERHEAD, wire.CLIENT_FRAME_FLOOR)
        self.ready = True
        self.down = False
        self.backoff = 0
        if self.down_timer is not None:
            self.down_timer.cancel()
            self.down_timer = None
        # What the broker lost goes back first, ahead of every call made meanwhile (docs/semantics.md §5).
        for group, channel, left in self.layer.hello_info(info):
            req = self.request([Op.GROUP_ADD, 0, group, channel, left])
            req.future.add_done_callback(_retrieve)
        queued, self.outbox = self.outbox, []
        for req in queued:
            req.link = link
            self.batch.append(req.frame)
        self.flush()

    def on_lost(self, link, exc):
        if link is not self.link:
            return
        self.link = None
        was_ready = self.ready
        self.ready = False
        if exc is not None:
            self.last_error = exc
        # The broker gave back everything it had handed us; reports and cancels for that link mean nothing now.
        self.batch = []
        resend = []
        for req in list(self.pending.values()):
            if req.link is not link:
                continue
            req.link = None
            if req.channel is not None:
                self.finish(req)
                if req.abandoned or req.future.done():
                    self.unlock(req)
                    continue
                # A receive resumes on the next link.
                req.finished = False
                req.frame[1] = self.new_id()
                self.pending[req.id] = req
                resend.append(req)
            else:
                self.finish(req)
                if not req.future.done():
                    req.future.set_exception(ConnectionLost(
                        f"the connection to the broker at {self.address} was lost while this request was in flight; "
                        "it may or may not have been applied"))
        self.outbox = resend + self.outbox
        if self.closing or self.failure is not None:
            return
        if was_ready:
            log.warning("lost the connection to the broker at %s (%s); reconnecting", self.address, self.last_error or "closed")
        self.start_down_timer()

    def start_down_timer(self):
        if self.down_timer is None and not self.down:
            self.down_timer = self.loop.call_later(self.layer.connect_timeout, self.went_down)

    def went_down(self):
        self.down_timer = None
        if self.ready or self.closing:
            return
        self.down = True
        err = self.lost_error()
        log.error("%s", err)
        self.fail_all(err)

    def lost_error(self):
        last = f" (last error: {self.last_error})" if self.last_error else ""
        return ConnectionLost(
            f"the broker at {self.address} has been unreachable for over {self.layer.connect_timeout} s "
            f"(connect_timeout){last}; still retrying in the background")

    def fail_all(self, err):
        """Every request, written or not, fails with `err`."""
        self.outbox = []
        for req in list(self.pending.values()):
            self.finish(req)
            if not req.future.done():
                req.future.set_exception(err)
            elif req.channel is not None:
                self.unlock(req)

    def beat(self):
        """Heartbeat: a ping when nothing else was written; a broker silent for three beats is gone."""
        self.heartbeat = self.loop.call_later(self.layer.heartbeat_interval, self.beat)
        if not self.ready:
            return
        if self.heard:
            self.heard = False
            self.silent = 0
        else:
            self.silent += 1
            if self.silent >= 3:
                self.last_error = ConnectionLost("the broker missed three heartbeats")
                return self.link.transport.abort()
        if not self.wrote:
            self.queue([Op.PING, self.new_id()])
        self.wrote = False

    async def close(self):
        """Waiting receives are cancelled in the broker (a message it had already
        handed over goes back), calls in flight get their answers, then the link ends."""
        if self.closing:
            return await asyncio.shield(self.closed)
        self.closing = True
        self.heartbeat.cancel()
        if self.down_timer is not None:
            self.down_timer.cancel()
        waiting = [req for req in self.pending.values() if req.channel is not None and not req.future.done()]
        for req in waiting:
            req.future.set_exception(LayerClosed("the channel layer was closed while this receive waited"))
            req.abandoned = True
            if req.link is not None and req.link is self.link:
                self.queue([Op.CANCEL, req.id])
        self.flush()
        link = self.link
        if link is not None and self.ready:
            deadline = self.loop.time() + CLOSE_WAIT
            while any(req.link is link for req in self.pending.values()) and self.loop.time() < deadline:
                await asyncio.sleep(0.005)
        self.fail_all(LayerClosed("the channel layer was closed"))
        if link is not None and link.transport is not None:
            link.transport.close()
            try:
                await asyncio.wait_for(asyncio.shield(link.closed), CLOSE_WAIT)
            except asyncio.TimeoutError:
                link.transport.abort()
        # Connecting or waiting to reconnect: stop that too.
        self.runner.cancel()
        try:
            await self.runner
        except asyncio.CancelledError:
            pass
        if not self.closed.done():
            self.closed.set_result(None)


def failure_of(status, frame):
    if status == Status.ERROR:
        return from_wire(*(frame[2:5] + [None] * 3)[:3])
    return ConnectionLost(f"the broker ended request {frame[0]} unexpectedly")


def _retrieve(future):
    # A restore that failed (the link dropped again) is redone on the next hello; nobody awaits it.
    if not future.cancelled():
        future.exception()
