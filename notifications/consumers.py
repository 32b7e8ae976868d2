"""The notification socket every page of a signed-in user opens."""

from __future__ import annotations

from channels.db import database_sync_to_async

from chat.selectors import room_ids_for_user
from chatsite.realtime import room_group, user_group
from chatsite.ws import JsonSocketConsumer

WATCHED_FRAMES = {"message.new", "message.deleted"}


class NotificationConsumer(JsonSocketConsumer):
    watching = False
    room_groups: frozenset[str] = frozenset()  # the room groups joined for rooms.watch

    async def on_connect(self) -> None:
        """Join the user's group: every tab of the user receives the same pushes."""
        await self.join(user_group(self.user.pk))

    async def user_frame(self, event: dict) -> None:
        """A frame for this user, already encoded."""
        await self.send(text_data=event["text"])

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

    async def layer_resync(self, event: dict) -> None:
        """After a Redis outage: the session may have ended, a room.removed may have been lost."""
        if await self.session_check() and self.watching:
            await self.watch_rooms()

    async def leave(self, group: str) -> None:
        await self.channel_layer.group_discard(group, self.channel_name)
        self.joined.remove(group)
        self.room_groups = self.room_groups - {group}

    async def room_frame(self, event: dict) -> None:
        """A room event of a watched room; typing and presence are not the room list's business."""
        if event.get("frame") in WATCHED_FRAMES:
            await self.send(text_data=event["text"])

    async def room_access(self, event: dict) -> None:
        """A watched room changed who may be in it; a member losing access is told by user_room_access."""

    async def user_room_access(self, event: dict) -> None:
        """The user joined or left a room: watch it or stop, then tell the page (its room list changes)."""
        group = room_group(event["room_id"])
        if event["member"] and self.watching and group not in self.joined:
            await self.join(group)
            self.room_groups = self.room_groups | {group}
        elif not event["member"] and group in self.joined:
            await self.leave(group)
        await self.send(text_data=event["text"])
