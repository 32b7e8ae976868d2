"""The room socket at /ws/rooms/<slug>/: decode a frame, authorize, call a service, reply."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from functools import partial

from channels.db import database_sync_to_async
from redis.exceptions import RedisError

from chat import frames, presence
from chat.models import Room
from chat.posting import apost_message
from chat.selectors import message_history, room_can_access, room_for_socket, room_unread_count
from chat.services import (
    message_delete,
    message_edit,
    reaction_add,
    reaction_remove,
    room_join,
    room_mark_read,
)
from chatsite import metrics
from chatsite.realtime import abroadcast_to_room, apush_to_user, encode, member_group, room_group
from chatsite.ws import CLOSE_FORBIDDEN, FrameError, JsonSocketConsumer, field

logger = logging.getLogger(__name__)

SYNC_LIMIT = 200
LIVE_PAUSED = "Live updates (presence, typing, instant delivery) are paused; messages are still saved."
RETRY_AFTER = 2  # seconds a client waits before asking again while Redis is unreachable
GAP_WAIT_SECONDS = 0.02  # a frame after a gap in seq waits this long for the missing one, then the database fills it
# (0.1 s cost more than it saved here: under CPU contention the missing frame was often 100-250 ms late)


def _open_room(slug: str, user) -> Room:
    room, member = room_for_socket(slug=slug, user=user)
    if not member:  # a public room's first visit (room_for_socket refused private rooms to non-members)
        room_join(room=room, user=user)
    return room


def _room_if_allowed(room_id: int, user) -> Room | None:
    room = Room.objects.filter(pk=room_id).first()
    return room if room is not None and room_can_access(room=room, user=user) else None


def _read(room: Room, user, seq: int) -> dict:
    membership = room_mark_read(room=room, user=user, seq=seq)
    count = room_unread_count(room=room, user=user, last_read_seq=membership.last_read_seq)
    return frames.unread(room_slug=room.slug, count=count, last_read_seq=membership.last_read_seq)


def _history_frames(room: Room, after_seq: int, until: int) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []
    while after_seq < until:
        messages, has_more = message_history(room=room, after_seq=after_seq, limit=SYNC_LIMIT)
        out += [(m.seq, encode(frames.message_new(m, room_slug=room.slug))) for m in messages if m.seq <= until]
        if not has_more or not messages:
            break
        after_seq = messages[-1].seq
    return out


_FILLS: dict[tuple, asyncio.Future] = {}


async def shared_history(room: Room, *, after_seq: int, until: int) -> list[tuple[int, str]]:
    """The encoded message.new frames of seqs after_seq+1..until, read once for every socket of the process.

    Every member on a process sees the same gap at the same moment (one Pub/Sub delivery): one query
    fills them all.
    """
    key = (asyncio.get_running_loop(), room.pk, after_seq, until)
    fill = _FILLS.get(key)
    if fill is None:
        metrics.GAP_FILLS.inc()
        fill = _FILLS[key] = asyncio.ensure_future(database_sync_to_async(_history_frames)(room, after_seq, until))
        fill.add_done_callback(lambda _: _FILLS.pop(key, None))
    return await asyncio.shield(fill)


async def _announce_presence(slug: str, room_id: int, online: list[dict]) -> None:
    """A heartbeat found the list changed (a crashed process's users expired): tell the room."""
    await abroadcast_to_room(room_id, frames.presence(room_slug=slug, online=online))


class RoomConsumer(JsonSocketConsumer):
    __slots__ = ("gap_filler", "held", "room", "sent_seq", "seq_lock")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.room: Room | None = None
        self.sent_seq = 0  # highest message seq this socket was sent: frames at or below it are duplicates
        self.gap_filler: asyncio.Task | None = None
        self.held: dict[int, str] = {}  # message frames after a gap in seq, waiting for the missing ones
        # Taken by every path that sends message.new frames and moves sent_seq: the live frame, the
        # gap filler's task, the sender's acknowledgement, resync and sync keep one order between them.
        self.seq_lock = asyncio.Lock()

    def authorize(self, user) -> Room:
        """The room, joined when public; NotFound (4404) or Forbidden (4403) otherwise."""
        return _open_room(self.scope["url_route"]["kwargs"]["slug"], user)

    def groups_for(self, room: Room) -> list[str]:
        """The room's group, and this member's on it (closed at once if they lose access)."""
        self.room = room
        self.sent_seq = room.last_seq  # frames pushed from the join on are sent after it: none is missed
        return [room_group(room.pk), member_group(room.pk, self.user.pk)]

    async def on_connect(self, room: Room) -> None:
        """Join the room's presence list."""
        try:
            await self.update_presence(presence.apresence_join)
        except RedisError as exc:  # degraded: chat from the database works, live extras wait
            logger.warning("presence unavailable for room %s: %s", self.room.slug, exc)
            await self.send_error("unavailable", LIVE_PAUSED, retry_after=RETRY_AFTER)
        # Refreshed by the process's one keeper until end(), whichever way the socket ends.
        presence.presence_keep(partial(_announce_presence, self.room.slug), **self.who())

    def end(self) -> None:
        presence.presence_forget(self.channel_name)
        super().end()

    def who(self) -> dict:
        return {"room_id": self.room.pk, "user_id": self.user.pk, "username": self.user.username,
                "socket_id": self.channel_name}  # fmt: skip

    async def disconnect(self, code: int) -> None:
        """Stop the heartbeat and leave the presence list and groups."""
        if self.room is not None:
            presence.presence_forget(self.channel_name)
            with contextlib.suppress(RedisError):
                await self.update_presence(presence.apresence_leave, announce_only=True)
        await super().disconnect(code)

    async def update_presence(self, operation, *, announce_only: bool = False, **extra) -> None:
        changed, online = await operation(**self.who(), **extra)
        frame = frames.presence(room_slug=self.room.slug, online=online)
        if changed:
            await abroadcast_to_room(self.room.pk, frame)
        elif not announce_only:
            await self.send_json(frame)

    async def room_frame(self, event: dict) -> None:
        """A room event, already encoded once for every member."""
        seq = event.get("seq")
        if seq is None:
            await self.send(text_data=event["text"])
            return
        async with self.seq_lock:
            if seq <= self.sent_seq:
                return  # already sent (by a catch-up, or as the sender's own acknowledgement)
            if seq > self.sent_seq + 1:
                # A gap: usually the missing one was posted by another process and is a moment behind.
                # Hold this one briefly instead of asking the database at once (fill_gap does, if needed).
                self.held[seq] = event["text"]
                if self.gap_filler is None or self.gap_filler.done():
                    self.gap_filler = self.spawn(self.fill_gap())
                return
            self.sent_seq = seq
            await self.send(text_data=event["text"])
            if self.held:  # the late one came: what waited behind it follows at once
                await self.send_held()

    async def send_held(self) -> None:
        """Send the held frames that now follow sent_seq; drop those already sent (caller holds seq_lock)."""
        for seq in sorted(self.held):
            if seq <= self.sent_seq:
                del self.held[seq]
            elif seq == self.sent_seq + 1:
                self.sent_seq = seq
                await self.send(text_data=self.held.pop(seq))
            else:
                return

    async def fill_gap(self) -> None:
        """Wait GAP_WAIT_SECONDS for the missing frames, then fill what is still missing from the database."""
        while self.held:
            await asyncio.sleep(GAP_WAIT_SECONDS)
            async with self.seq_lock:
                await self.send_held()
                if not self.held:
                    return
                until = max(self.held)
                for seq, text in await shared_history(self.room, after_seq=self.sent_seq, until=until):
                    if seq > self.sent_seq:
                        self.sent_seq = seq
                        await self.send(text_data=text)
                await self.send_held()

    async def room_access(self, event: dict) -> None:
        """Who may be in the room changed (it went private): stay only while still allowed."""
        await self.still_allowed()

    async def still_allowed(self) -> bool:
        """Re-read the room and the user's access to it; closed with 4403 when it is gone.

        Reads of the room's history call this first: the push that would have closed the socket of a
        removed member can be lost (Redis refused it), and the database is what decides.
        """
        room = await database_sync_to_async(_room_if_allowed)(self.room.pk, self.user)
        if room is None:
            await self.close(code=CLOSE_FORBIDDEN)
            return False
        self.room = room
        return True

    async def catch_up(self, *, until: int | None = None) -> None:
        """Send the messages stored after sent_seq (up to `until`), in order, from the database."""
        while until is None or self.sent_seq < until:
            messages, has_more = await database_sync_to_async(message_history)(
                room=self.room, after_seq=self.sent_seq, limit=SYNC_LIMIT
            )
            for message in messages:
                if until is not None and message.seq > until:
                    return
                await self.send(text_data=encode(frames.message_new(message, room_slug=self.room.slug)))
                self.sent_seq = message.seq
            if not has_more:
                return

    async def layer_resync(self, event: dict) -> None:
        """Redis is back after an outage: send what Pub/Sub dropped meanwhile, rejoin presence."""
        # Pushes sent meanwhile were lost, a sign-out's or a removal's too: check both before sending anything.
        if self.room is None or not await self.session_check() or not await self.still_allowed():
            return
        async with self.seq_lock:
            await self.catch_up()
            await self.send_held()
        with contextlib.suppress(RedisError):
            await self.update_presence(presence.apresence_join)

    async def frame_message_send(self, frame: dict) -> None:
        body = field(frame, "body", str)
        client_id = field(frame, "client_id", str, required=False) or ""
        attachments = field(frame, "attachments", list, required=False) or []
        reply_to = field(frame, "reply_to", int) if frame.get("reply_to") is not None else None
        if not await self.check_rate("chat.message", str(self.user.pk)):
            return
        posted = await apost_message(
            room=self.room,
            author=self.user,
            body=body,
            client_id=client_id,
            reply_to=reply_to,
            attachments=attachments,
        )
        message, created = posted.message, posted.created
        if created:
            metrics.MESSAGES_POSTED.inc()
        # A retried send, or a broadcast Redis refused (the message is stored; the others get it
        # through their resync): acknowledge to this socket only.
        if not created or not posted.published:
            frame = await database_sync_to_async(frames.message_new)(message)
            async with self.seq_lock:
                if message.seq > self.sent_seq:
                    await self.catch_up(until=message.seq - 1)
                    self.sent_seq = message.seq
                await self.send_json(frame)
                await self.send_held()

    async def frame_message_edit(self, frame: dict) -> None:
        message_id, body = field(frame, "id", int), field(frame, "body", str)
        if not await self.check_rate("chat.edit", str(self.user.pk)):
            return
        await database_sync_to_async(message_edit)(room=self.room, message_id=message_id, editor=self.user, body=body)

    async def frame_message_delete(self, frame: dict) -> None:
        message_id = field(frame, "id", int)
        if not await self.check_rate("chat.edit", str(self.user.pk)):
            return
        await database_sync_to_async(message_delete)(room=self.room, message_id=message_id, actor=self.user)

    async def frame_reaction_add(self, frame: dict) -> None:
        await self.react(frame, reaction_add)

    async def frame_reaction_remove(self, frame: dict) -> None:
        await self.react(frame, reaction_remove)

    async def react(self, frame: dict, service) -> None:
        """The room hears of a change; an add or remove that changed nothing is answered to this socket only."""
        message_id, emoji = field(frame, "id", int), field(frame, "emoji", str)
        if not await self.check_rate("chat.reaction", str(self.user.pk)):
            return
        reaction, changed = await database_sync_to_async(service)(
            room=self.room, message_id=message_id, user=self.user, emoji=emoji
        )
        if not changed:
            await self.send_json(reaction)

    async def frame_sync(self, frame: dict) -> None:
        """Every message after `after_seq`, in order, as message.new frames, then `sync.done`."""
        after_seq = field(frame, "after_seq", int)
        if not await self.check_rate("chat.sync", str(self.user.pk)) or not await self.still_allowed():
            return
        messages, has_more = await database_sync_to_async(message_history)(
            room=self.room, after_seq=max(after_seq, 0), limit=SYNC_LIMIT
        )
        async with self.seq_lock:
            for message in messages:
                await self.send(text_data=encode(frames.message_new(message, room_slug=self.room.slug)))
            # Never past the room's newest (re-read by still_allowed): a claim beyond it would drop every live frame.
            last_seq = messages[-1].seq if messages else min(max(after_seq, 0), self.room.last_seq)
            self.sent_seq = max(self.sent_seq, last_seq)
            await self.send_held()
        await self.send_json({"type": "sync.done", "room": self.room.slug, "last_seq": last_seq, "has_more": has_more})

    async def frame_read(self, frame: dict) -> None:
        seq = field(frame, "seq", int)
        if not await self.check_rate("chat.read", str(self.user.pk), quiet=True):  # the next read catches up
            return
        unread = await database_sync_to_async(_read)(self.room, self.user, seq)
        await self.send_json(unread)
        await apush_to_user(self.user.pk, unread)  # the user's other tabs and room lists

    async def frame_presence_state(self, frame: dict) -> None:
        """The page became active or away; others see it in the presence list (best effort)."""
        state = field(frame, "state", str)
        if state not in presence.STATES:
            raise FrameError("invalid_frame", "The field “state” must be “active” or “away”.")
        if not await self.check_rate("chat.presence", str(self.user.pk), quiet=True) or not await self.still_allowed():
            return
        try:
            await self.update_presence(presence.apresence_set_state, announce_only=True, state=state)
        except RedisError as exc:  # presence is advisory: the socket keeps working without it
            logger.warning("presence state not stored for room %s: %s", self.room.slug, exc)

    async def frame_typing(self, frame: dict) -> None:
        active = field(frame, "active", bool)
        # Typing and presence reach the whole room: the database decides, as for sync (a close push can be lost).
        if not await self.check_rate("chat.typing", str(self.user.pk), quiet=True) or not await self.still_allowed():
            return
        typing = frames.typing(
            room_slug=self.room.slug, user_id=self.user.pk, username=self.user.username, active=active
        )
        await abroadcast_to_room(self.room.pk, typing)
