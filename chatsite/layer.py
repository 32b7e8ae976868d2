"""The channel layer: channels_redis Pub/Sub that outlives Redis outages instead of killing sockets.

channels_redis raises every Redis error into the consumer (a failed publish or subscribe closes
the socket with 1011 or answers the handshake with 500) and never tells anyone what Pub/Sub lost
while the connection was down. This layer:

- swallows errors of `group_send`/`send` (counted in `publish_failures`, so a sender can tell its
  frame did not go out) and of subscribes (retried in the background until Redis answers);
- after an outage, puts a `layer.resync` event in every local socket's queue and publishes one to
  every group whose publish failed, so consumers re-read from the database what Pub/Sub dropped;
- bounds each socket's queue (`MAX_QUEUED` frames): a socket whose client does not keep up gets one
  `layer.overflow` event instead of an ever-growing backlog, and is closed with 1013.

For the hot path it also decodes a group message once per process (its sockets share the dict) and
sends a batch of group messages in one round trip (`group_send_many`). Group messages with a `seq`
(a room's message.new) go out through Redis in seq order, whichever process sends them
(`chatsite.ordering`).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid

from channels_redis.pubsub import RedisPubSubChannelLayer, RedisPubSubLoopLayer, RedisSingleShardConnection
from redis.exceptions import RedisError, ResponseError

from chatsite import metrics, ordering
from chatsite.socket_queue import SocketQueue

logger = logging.getLogger(__name__)

REDIS_DOWN = (RedisError, OSError)
RESYNC = {"type": "layer.resync"}
OVERFLOW = {"type": "layer.overflow"}
MAX_QUEUED = 1000  # frames waiting for one socket; the documented bound (docs/operations.md)


class ResilientShard(RedisSingleShardConnection):
    """One Redis server of the layer; failed subscribes are kept and retried by the receive loop."""

    def __init__(self, host, channel_layer):
        super().__init__(host, channel_layer)
        self._pending: set[str] = set()  # channels to (re)subscribe once Redis answers
        self._resync_groups: set[str] = set()  # group channels whose publish failed
        self._down_since: float | None = None
        self._watched = None

    def _failed(self, exc: BaseException) -> None:
        metrics.REDIS_ERRORS.labels("channel_layer").inc()
        if self._down_since is None:
            self._down_since = time.monotonic()
            logger.warning("channel layer: Redis unreachable (%s: %s); live frames paused", type(exc).__name__, exc)
        self._ensure_receiver()  # the loop below is what retries

    async def publish(self, channel, message):
        try:
            await super().publish(channel, message)
        except REDIS_DOWN as exc:
            self._failed(exc)
            raise

    async def publish_many(self, channel, messages):
        """PUBLISH each message to one channel, in order, in one pipelined round trip."""
        try:
            async with self._lock:
                self._ensure_redis()
                pipe = self._redis.pipeline(transaction=False)
                for message in messages:
                    pipe.publish(channel, message)
                await pipe.execute()
        except REDIS_DOWN as exc:
            self._failed(exc)
            raise

    async def publish_in_order(self, keys: list[str], args: list) -> list:
        """Run the ordering script (chatsite.ordering.ORDER): its reply, [frames held, ms until due]."""
        try:
            async with self._lock:
                self._ensure_redis()
                return await ordering.ORDER.acall(self._redis, keys, args)
        except ResponseError:
            raise  # Redis answered: not an outage
        except REDIS_DOWN as exc:
            self._failed(exc)
            raise

    async def subscribe(self, channel):
        try:
            await super().subscribe(channel)
        except REDIS_DOWN as exc:
            self._pending.add(channel)
            self._failed(exc)
            return
        self._watch_reconnects()

    async def unsubscribe(self, channel):
        if "!" in channel:  # a socket's channel: a queue behind its process's subscription (new_channel)
            return
        self._pending.discard(channel)
        try:
            await super().unsubscribe(channel)
        except REDIS_DOWN as exc:
            # The subscription dies with the connection; forget it so a reconnect does not restore it.
            self._subscribed_to.discard(channel)
            if self._pubsub is not None:
                self._pubsub.channels.pop(channel.encode(), None)
                self._pubsub.channels.pop(channel, None)
            self._failed(exc)

    def _watch_reconnects(self) -> None:
        # redis-py reconnects a Pub/Sub connection by itself inside get_message() (and resubscribes);
        # messages published meanwhile are gone, so each reconnect is an outage to resync after.
        connection = self._pubsub.connection if self._pubsub is not None else None
        if connection is not None and connection is not self._watched:
            connection.register_connect_callback(self._reconnected)
            self._watched = connection

    async def _reconnected(self, connection) -> None:
        self.channel_layer.nudge_local()

    async def _recover(self) -> None:
        async with self._lock:
            self._ensure_redis()
            await self._redis.ping()
            # After an outage subscribe to everything again, not only what failed: a reconnect that
            # happened while Redis flapped may have restored only part of the subscriptions.
            wanted = sorted(self._pending | (self._subscribed_to if self._down_since is not None else set()))
            if wanted:
                self._ensure_receiver()
                await self._pubsub.subscribe(*wanted)
                self._subscribed_to.update(wanted)
                self._pending.difference_update(wanted)
            self._watch_reconnects()
            groups, self._resync_groups = self._resync_groups, set()
            for group_channel in groups:
                await self._redis.publish(group_channel, self.channel_layer.channel_layer.serialize(RESYNC))
        if self._down_since is not None:
            logger.warning("channel layer: Redis answers again after %.1fs", time.monotonic() - self._down_since)
            self._down_since = None
            self.channel_layer.nudge_local()

    async def _do_receiving(self):
        delay = 0.1
        while True:
            try:
                if self._down_since is not None or self._pending or self._resync_groups:
                    await self._recover()
                if self._pubsub is not None and self._pubsub.subscribed:
                    message = await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=0.1)
                    self._receive_message(message)
                else:
                    await asyncio.sleep(0.1)
                delay = 0.1
            except (asyncio.CancelledError, GeneratorExit):
                raise
            except REDIS_DOWN as exc:
                self._failed(exc)
                await asyncio.sleep(delay * random.uniform(0.5, 1.0))
                delay = min(delay * 2, 2.0)
            except Exception:
                logger.exception("channel layer: unexpected error in the receive loop")
                await asyncio.sleep(1)

    def _receive_message(self, message):
        if message is None:
            return
        name = message["channel"]
        if isinstance(name, bytes):
            name = name.decode()
        layer = self.channel_layer
        if name in layer.channels:
            layer.deliver(name, message["data"])
        elif name == layer.process_channel:  # a send to one of this process's sockets: "<its channel>\n<data>"
            channel, _, data = message["data"].partition(b"\n")
            layer.deliver(channel.decode(), data)
        elif name in layer.groups:
            # Decoded once for all the group's sockets of this process (receive() passes a dict through):
            # consumers only read their events, so they can share one.
            event = layer.channel_layer.deserialize(message["data"])
            for channel_name in layer.groups[name]:
                layer.deliver(channel_name, event)


class ResilientLoopLayer(RedisPubSubLoopLayer):
    """The per-event-loop layer, with ResilientShard connections."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._shards = [ResilientShard(shard.host, self) for shard in self._shards]
        self.overflowed: set[str] = set()
        self._releases: dict[str, asyncio.Task] = {}  # per group: the call that will release its held frames
        self.process_channel: str | None = None  # this loop's one subscription for its sockets' channels

    async def new_channel(self, prefix="specific."):
        """A socket's channel, `<this loop's channel>!<id>`: a local queue behind one subscription per loop.

        channels_redis subscribes every socket's channel in Redis: a SUBSCRIBE when it opens, an
        UNSUBSCRIBE when it closes, thousands of subscriptions per process to restore after an outage,
        all for sends by channel name, which chatsite never makes (it pushes to groups). A send to such a
        name still arrives: it goes to the loop's channel and is sorted here (_receive_message).
        """
        if self.process_channel is None:
            self.process_channel = f"{self.prefix}{prefix}{uuid.uuid4().hex}"
            await self._get_shard(self.process_channel).subscribe(self.process_channel)
        channel = f"{self.process_channel}!{uuid.uuid4().hex}"
        self.channels[channel] = SocketQueue()
        return channel

    def deliver(self, channel: str, data: bytes | dict) -> None:
        queue = self.channels.get(channel)
        if queue is None or channel in self.overflowed:
            return
        if queue.qsize() >= MAX_QUEUED:
            # The consumer is stuck sending to a client that does not read: drop its backlog (the
            # client resyncs from the database on reconnect) and tell it to close.
            self.overflowed.add(channel)
            while not queue.empty():
                queue.get_nowait()
            queue.put_nowait(self.channel_layer.serialize(OVERFLOW))
            return
        queue.put_nowait(data)

    def nudge_local(self) -> None:
        """Tell every socket of this process to re-read what it may have missed."""
        data = self.channel_layer.serialize(RESYNC)
        for channel in list(self.channels):
            self.deliver(channel, data)
        metrics.RESYNC_NUDGES.inc(len(self.channels))

    async def send(self, channel, message):
        process_channel, local, _ = channel.partition("!")
        try:
            if local:  # a socket's channel (new_channel): through its process's subscription
                data = channel.encode() + b"\n" + self.channel_layer.serialize(message)
                await self._get_shard(process_channel).publish(process_channel, data)
            else:
                await super().send(channel, message)
        except REDIS_DOWN:
            self.channel_layer.publish_failures += 1

    async def group_send(self, group, message):
        if ordering.event_seq(message) is not None:
            await self.group_send_many(group, [message])
            return
        try:
            await super().group_send(group, message)
        except REDIS_DOWN:
            self._group_send_failed(group)

    async def group_send_many(self, group, messages):
        """group_send of several messages, in order, in one round trip (a batch of posted messages).

        Messages with a seq reach the group in seq order across processes: one that comes before those
        preceding it waits in Redis for them (at most ordering.HOLD_MS); the others keep their place.
        """
        group_channel = self._get_group_channel_name(group)
        shard = self._get_shard(group_channel)
        serialize = self.channel_layer.serialize
        try:
            if any(ordering.event_seq(m) is not None for m in messages):
                try:
                    await self._publish_in_order(group, shard, ordering.order_args(group_channel, messages, serialize))
                    return
                except ResponseError as exc:  # the script refused (a key of the wrong type, no scripting)
                    logger.warning("channel layer: ordered publish to %s refused (%s), sent unordered", group, exc)
            await shard.publish_many(group_channel, [serialize(m) for m in messages])
        except REDIS_DOWN:
            self._group_send_failed(group)

    async def _publish_in_order(self, group, shard: ResilientShard, args: list, *, releasing: bool = False) -> None:
        held, due = await shard.publish_in_order(ordering.order_keys(args[0]), args)
        # What this call held goes out once the seqs before it come, or, should they never come, with the
        # first call after the bound: this process makes one, in case the room stays quiet.
        if (held or releasing) and due >= 0 and group not in self._releases:
            self._releases[group] = asyncio.ensure_future(self._release(group, shard, args[:4], due / 1000))

    async def _release(self, group, shard: ResilientShard, args: list, delay: float) -> None:
        await asyncio.sleep(delay + 0.002)
        del self._releases[group]
        try:
            await self._publish_in_order(group, shard, args, releasing=True)
        except ResponseError as exc:
            logger.warning("channel layer: releasing held frames of %s refused (%s)", group, exc)
        except REDIS_DOWN:  # Redis lost them or keeps them: the group resyncs once it answers
            shard._resync_groups.add(args[0])

    def _group_send_failed(self, group) -> None:
        self.channel_layer.publish_failures += 1
        group_channel = self._get_group_channel_name(group)
        self._get_shard(group_channel)._resync_groups.add(group_channel)

    async def receive(self, channel):
        self.overflowed.discard(channel)  # a new receive after overflow means the consumer lives on
        return await super().receive(channel)

    async def flush(self):
        self.process_channel = None  # its subscription goes with the shards' connections
        await super().flush()

    def socket_queue(self, channel: str) -> SocketQueue | None:
        """The queue of a channel of this process, for a consumer that waits on it itself (chatsite.ws)."""
        return self.channels.get(channel)

    def receive_nowait(self, channel: str) -> dict:
        """receive() of an event already in the channel's queue (asyncio.QueueEmpty when there is none)."""
        message = self.channels[channel].get_nowait()
        self.overflowed.discard(channel)
        return self.channel_layer.deserialize(message)

    async def release(self, channel: str) -> None:
        """What a cancelled receive() does for a consumer that waited itself: the queue (and any subscription) go."""
        if self.channels.pop(channel, None) is not None:
            try:
                await self._get_shard(channel).unsubscribe(channel)
            except Exception:
                logger.exception("channel layer: unsubscribing %s failed", channel)

    async def group_add(self, group, channel):
        if channel not in self.channels:  # subscribing failed when the channel was made; keep it local
            self.channels[channel] = SocketQueue()
        await super().group_add(group, channel)

    async def _subscribe_to_channel(self, channel):
        self.channels[channel] = SocketQueue()
        await self._get_shard(channel).subscribe(channel)


class ResilientPubSubChannelLayer(RedisPubSubChannelLayer):
    """CHANNEL_LAYERS backend: one ResilientLoopLayer per event loop."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.publish_failures = 0  # grows with each publish Redis refused (senders compare before/after)

    def deserialize(self, message):
        return message if isinstance(message, dict) else super().deserialize(message)  # decoded once already

    def _get_layer(self):
        loop = asyncio.get_running_loop()
        layer = self._layers.get(loop)
        if layer is None:
            layer = self._layers[loop] = ResilientLoopLayer(*self._args, **self._kwargs, channel_layer=self)
            from channels_redis.utils import _wrap_close

            _wrap_close(self, loop)
        return layer
