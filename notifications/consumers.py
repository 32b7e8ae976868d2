"""The notification socket every page of a signed-in user opens."""

from __future__ import annotations

import asyncio
import json
import logging

from channels.db import database_sync_to_async

from chat.frames import room_item
from chat.selectors import room_ids_for_user
from chatsite.realtime import encode, room_group, user_group
from chatsite.ws import JsonSocketConsumer
from notifications import frames
from notifications.selectors import notification_newest_id, notifications_after
from notifications.unread import unread_rebuild

logger = logging.getLogger(__name__)

WATCHED_FRAMES = {"message.new", "message.deleted"}
ITEM_DELAY = 1.0  # seconds: a burst of messages in one room re-renders its list item once per watcher
RESYNC_LIMIT = 10  # the bell shows the ten newest; older missed ones are on the notifications page


def _bell_state(user, after_id: int) -> list[dict]:
    """The frames that bring a bell up to date: notifications after `after_id`, else just the count."""
    missed = notifications_after(user=user, after_id=after_id, limit=RESYNC_LIMIT)
    count = unread_rebuild(user.pk)
    return [frames.notification_new(n, unread_count=count) for n in missed] or [
        frames.notification_read([], unread_count=count)
    ]


class NotificationConsumer(JsonSocketConsumer):
    __slots__ = ("items_due", "room_groups", "sent_id", "watching")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.watching = False
        self.room_groups: frozenset[str] = frozenset()  # the room groups joined for rooms.watch
        self.sent_id = 0  # the newest notification this socket has shown (at connect: the newest stored)
        self.items_due: set[str] = set()  # room slugs whose list item is about to be sent again

    def authorize(self, user) -> int:
        """Every signed-in user has a bell: the newest notification, read in the handshake's DB call."""
        return notification_newest_id(user=user)

    def groups_for(self, newest_id: int) -> list[str]:
        """The user's group: every tab of the user receives the same pushes."""
        self.sent_id = newest_id
        return [user_group(self.user.pk)]

    async def user_frame(self, event: dict) -> None:
        """A frame for this user, already encoded."""
        await self.send(text_data=event["text"])
        self.sent_id = max(self.sent_id, event.get("notification_id", 0))

    async def layer_resync(self, event: dict) -> None:
        """Redis is back after an outage: pushes made meanwhile were lost; bring the socket up to date.

        The session may have ended and a room.removed may have been lost, so those are checked first. Then
        the notifications created after the last one this socket sent, then the unread count (in
        `notification.read` with no ids when nothing was missed), so an open page is right without a reload.
        """
        if not await self.session_check():
            return
        if self.watching:
            await self.watch_rooms()
        for frame in await database_sync_to_async(_bell_state)(self.user, self.sent_id):
            await self.send(text_data=encode(frame))
            if frame["type"] == "notification.new":
                self.sent_id = max(self.sent_id, frame["notification"]["id"])

    async def frame_rooms_watch(self, frame: dict) -> None:
        """The room list page wants new messages of the user's rooms, to keep unread counts live."""
        if not await self.check_rate("notifications.watch", str(self.user.pk)):
            return
        self.watching = True
        count = await self.watch_rooms()
        await self.send_json({"type": "rooms.watching", "count": count})

    async def watch_rooms(self) -> int:
        """Be in the groups of exactly the user's rooms; returns how many."""
        room_ids = await database_sync_to_async(room_ids_for_user)(user=self.user)
        wanted = frozenset(room_group(room_id) for room_id in room_ids)
        for group in self.room_groups - wanted:
            await self.leave(group)  # a room.removed push was lost
        for group in sorted(wanted - self.room_groups):
            await self.join(group)
        self.room_groups = wanted
        return len(wanted)

    async def leave(self, group: str) -> None:
        await self.channel_layer.group_discard(group, self.channel_name)
        self.joined.remove(group)
        self.room_groups = self.room_groups - {group}

    async def room_frame(self, event: dict) -> None:
        """A room event of a watched room; typing and presence are not the room list's business."""
        if event.get("frame") in WATCHED_FRAMES:
            await self.send(text_data=event["text"])
            frame = json.loads(event["text"])
            slug = frame["message"]["room"] if frame["type"] == "message.new" else frame["room"]
            if slug not in self.items_due:
                self.items_due.add(slug)
                self.spawn(self.send_item(slug))

    async def send_item(self, slug: str) -> None:
        """The room's list item as the page renders it (`room.item`), so a live list never drifts from a reload."""
        await asyncio.sleep(ITEM_DELAY)
        self.items_due.discard(slug)
        try:
            item = await database_sync_to_async(room_item)(user=self.user, slug=slug)
        except Exception:  # the database failed: the list keeps its item until the next message or reload
            logger.warning("room list item for %s not rendered", slug, exc_info=True)
            return
        if item is not None:
            await self.send_json(item)

    async def room_access(self, event: dict) -> None:
        """Who may read a room changed (a re-check after a removal whose push may have been lost): watch
        exactly the user's rooms again."""
        if self.watching:
            await self.watch_rooms()

    async def user_room_access(self, event: dict) -> None:
        """The user joined or left a room: watch it or stop, then tell the page (its room list changes)."""
        group = room_group(event["room_id"])
        if event["member"] and self.watching and group not in self.joined:
            await self.join(group)
            self.room_groups = self.room_groups | {group}
        elif not event["member"] and group in self.joined:
            await self.leave(group)
        await self.send(text_data=event["text"])
