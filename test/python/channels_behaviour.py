"""What Channels' own tests check of InMemoryChannelLayer
(channels/tests/test_inmemorychannel.py), run against BrokerChannelLayer on a
real broker, plus what a broker layer adds (flush, close, event loops).
Assertions on InMemoryChannelLayer's internals (its `channels` dict) have no
counterpart here and are left out.

    /usr/bin/python3 channels_behaviour.py '{"url": …, "capacity_url": …, "expiry_url": …}'

`url`: a broker with default settings; `capacity_url`: one with capacity 3
(the fixture's InMemoryChannelLayer(capacity=3)); `expiry_url`: one with
expiry 0.1 s.
"""
import asyncio
import json
import os
import sys
import threading
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))

from asgiref.sync import async_to_sync  # noqa: E402
from channels.exceptions import ChannelFull  # noqa: E402

from channel_layers import BrokerChannelLayer, LayerClosed  # noqa: E402

URLS = json.loads(sys.argv.pop(1))


async def nothing(layer, channel, seconds=0.5):
    """True when no message arrives on `channel` within `seconds`."""
    try:
        await asyncio.wait_for(layer.receive(channel), seconds)
    except asyncio.TimeoutError:
        return True
    return False


class Base(unittest.IsolatedAsyncioTestCase):
    url_key = "url"

    async def asyncSetUp(self):
        self.layer = BrokerChannelLayer(url=URLS[self.url_key])
        await self.layer.flush()

    async def asyncTearDown(self):
        await self.layer.flush()
        await self.layer.close()


class InMemoryCases(Base):
    """test_inmemorychannel.py's cases that use its capacity=3 fixture."""

    url_key = "capacity_url"

    async def test_send_receive(self):
        await self.layer.send("test-channel-1", {"type": "test.message", "text": "Ahoy-hoy!"})
        message = await self.layer.receive("test-channel-1")
        self.assertEqual(message["type"], "test.message")
        self.assertEqual(message["text"], "Ahoy-hoy!")

    async def test_send_capacity(self):
        for _ in range(3):
            await self.layer.send("test-channel-1", {"type": "test.message"})
        with self.assertRaises(ChannelFull):
            await self.layer.send("test-channel-1", {"type": "test.message"})

    async def test_process_local_send_receive(self):
        channel_name = await self.layer.new_channel()
        await self.layer.send(channel_name, {"type": "test.message", "text": "Local only please"})
        message = await self.layer.receive(channel_name)
        self.assertEqual(message["type"], "test.message")
        self.assertEqual(message["text"], "Local only please")

    async def test_multi_send_receive(self):
        for i in (1, 2, 3):
            await self.layer.send("test-channel-3", {"type": f"message.{i}"})
        for i in (1, 2, 3):
            self.assertEqual((await self.layer.receive("test-channel-3"))["type"], f"message.{i}")

    async def test_groups_basic(self):
        for i in (1, 2, 3):
            await self.layer.group_add("test-group", f"test-gr-chan-{i}")
        await self.layer.group_discard("test-group", "test-gr-chan-2")
        await self.layer.group_send("test-group", {"type": "message.1"})
        self.assertEqual((await asyncio.wait_for(self.layer.receive("test-gr-chan-1"), 1))["type"], "message.1")
        self.assertEqual((await asyncio.wait_for(self.layer.receive("test-gr-chan-3"), 1))["type"], "message.1")
        self.assertTrue(await nothing(self.layer, "test-gr-chan-2"))

    async def test_groups_channel_full(self):
        await self.layer.group_add("test-group", "test-gr-chan-1")
        for _ in range(5):
            await self.layer.group_send("test-group", {"type": "message.1"})
        # Capacity 3: the first three are kept, the rest skipped without an error.
        for _ in range(3):
            self.assertEqual((await self.layer.receive("test-gr-chan-1"))["type"], "message.1")
        self.assertTrue(await nothing(self.layer, "test-gr-chan-1", 0.3))


class ExpiryCases(Base):
    """test_inmemorychannel.py's expiry cases (InMemoryChannelLayer(expiry=0.1)): the broker's expiry here."""

    url_key = "expiry_url"

    async def test_expiry_single(self):
        await self.layer.send("test-channel-1", {"type": "message.1"})
        await asyncio.sleep(0.15)
        self.assertTrue(await nothing(self.layer, "test-channel-1"))

    async def test_expiry_unread(self):
        await self.layer.send("test-channel-1", {"type": "message.1"})
        await asyncio.sleep(0.15)
        await self.layer.send("test-channel-2", {"type": "message.2"})
        self.assertEqual((await self.layer.receive("test-channel-2"))["type"], "message.2")
        self.assertTrue(await nothing(self.layer, "test-channel-1", 0.2))

    async def test_expiry_multi(self):
        for i in (1, 2, 3):
            await self.layer.send("test-channel-1", {"type": f"message.{i}"})
        self.assertEqual((await self.layer.receive("test-channel-1"))["type"], "message.1")
        await asyncio.sleep(0.15)
        await self.layer.send("test-channel-1", {"type": "message.4"})
        self.assertEqual((await self.layer.receive("test-channel-1"))["type"], "message.4")
        self.assertTrue(await nothing(self.layer, "test-channel-1"))


class BrokerCases(Base):
    """What a networked layer adds: flush, close, names, loops."""

    async def test_expiry_and_capacity_are_the_brokers(self):
        self.assertEqual((self.layer.expiry, self.layer.capacity), (60, 100))
        await self.layer.send("test-settings", {"type": "x"})
        layer = BrokerChannelLayer(url=URLS["capacity_url"])
        await layer.send("test-settings", {"type": "x"})
        self.assertEqual(layer.capacity, 3)
        await layer.flush()
        await layer.close()

    async def test_flush_empties_channels_and_groups(self):
        await self.layer.send("test-flush", {"type": "gone"})
        await self.layer.group_add("test-flush-group", "test-flush-member")
        await self.layer.flush()
        await self.layer.group_send("test-flush-group", {"type": "nobody"})
        self.assertTrue(await nothing(self.layer, "test-flush", 0.2))
        self.assertTrue(await nothing(self.layer, "test-flush-member", 0.2))

    async def test_new_channel_names_are_valid_unique_and_this_layers(self):
        names = {await self.layer.new_channel() for _ in range(100)}
        self.assertEqual(len(names), 100)
        for name in names:
            self.assertTrue(self.layer.valid_channel_name(name))
            self.assertIn(f".{self.layer.instance_id}!", name)
        other = BrokerChannelLayer(url=URLS["url"])
        with self.assertRaisesRegex(TypeError, "process-local to another layer instance"):
            await other.receive(names.pop())
        await other.close()

    async def test_invalid_names_and_messages_are_refused_as_channels_does(self):
        with self.assertRaises(TypeError):
            await self.layer.send("bad name!", {"type": "x"})
        with self.assertRaises(TypeError):
            await self.layer.group_add("bad group!", "ok")
        with self.assertRaises(AssertionError):
            await self.layer.send("ok", "not a dict")

    async def test_receivers_waiting_on_one_channel_each_get_one_message(self):
        waiting = [asyncio.ensure_future(self.layer.receive("test-shared")) for _ in range(3)]
        await asyncio.sleep(0.05)
        for i in range(3):
            await self.layer.send("test-shared", {"type": "m", "i": i})
        got = await asyncio.wait_for(asyncio.gather(*waiting), 2)
        self.assertEqual([m["i"] for m in got], [0, 1, 2])

    async def test_a_cancelled_receive_takes_nothing(self):
        waiting = asyncio.ensure_future(self.layer.receive("test-cancel"))
        await asyncio.sleep(0.05)
        waiting.cancel()
        await self.layer.send("test-cancel", {"type": "kept"})
        self.assertEqual((await asyncio.wait_for(self.layer.receive("test-cancel"), 2))["type"], "kept")

    async def test_close_ends_waiting_receives_and_a_later_call_connects_again(self):
        waiting = asyncio.ensure_future(self.layer.receive("test-close"))
        await asyncio.sleep(0.05)
        await self.layer.close()
        with self.assertRaises(LayerClosed):
            await waiting
        await self.layer.send("test-close", {"type": "after"})
        self.assertEqual((await self.layer.receive("test-close"))["type"], "after")


class SyncCases(unittest.TestCase):
    """Django's sync code calls the layer through async_to_sync, one event loop per call."""

    def test_async_to_sync_calls_from_sync_code(self):
        layer = BrokerChannelLayer(url=URLS["url"])
        channel = async_to_sync(layer.new_channel)()
        async_to_sync(layer.group_add)("test-sync", channel)
        async_to_sync(layer.group_send)("test-sync", {"type": "from.sync"})
        self.assertEqual(async_to_sync(layer.receive)(channel)["type"], "from.sync")
        # Every loop that closed took its connection along; none is left open.
        self.assertEqual(layer._connections, {})
        self.assertEqual([t.name for t in threading.enumerate() if t.name.startswith("asyncio")], [])
        async_to_sync(layer.flush)()


class ConfigCases(unittest.TestCase):
    """A bad CONFIG is one line in the settings' own words, when the layer is made."""

    def test_bad_config_is_refused_in_one_line(self):
        cases = [
            ({"url": "redis://127.0.0.1:6379"}, "broker address 'redis://127.0.0.1:6379': unknown scheme redis:; use tcp://, tls:// or unix://"),
            ({"url": "unix://"}, "broker address 'unix://' has no socket path: use unix:///path/to/broker.sock"),
            ({"token_file": "/nonexistent/token"}, "cannot read token_file /nonexistent/token: No such file or directory"),
            ({"url": "tcp://:a@127.0.0.1:6741", "token": "b"}, "give the broker token one way only, not token and the url's password"),
            ({"connect_timeout": 0}, "connect_timeout must be a positive number of seconds, got 0"),
        ]
        for config, message in cases:
            with self.subTest(config=config):
                with self.assertRaises(ValueError) as caught:
                    BrokerChannelLayer(**config)
                self.assertEqual(str(caught.exception), message)


if __name__ == "__main__":
    unittest.main(verbosity=2)
