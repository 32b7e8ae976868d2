"""The notification socket every page of a signed-in user opens."""

from __future__ import annotations

from channels.db import database_sync_to_async

from chat.selectors import room_ids_for_user
from chatsite.realtime import room_group, user_group
from chatsite.ws import JsonSocketConsumer

WATCHED_FRAMES = {"message.new", "message.deleted"}


class NotificationConsumer(JsonSocketConsumer):
    watching = False

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
        room_ids = await database_sync_to_async(room_ids_for_user)(user=self.user)
        self.watching = True
        for room_id in room_ids:
            group = room_group(room_id)
            if group not in self.joined:
                await self.join(group)
        await self.send_json({"type": "rooms.watching", "count": len(room_ids)})

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
        elif not event["member"] and group in self.joined:
            await self.channel_layer.group_discard(group, self.channel_name)
            self.joined.remove(group)
        await self.send(text_data=event["text"])
