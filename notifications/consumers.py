"""The notification socket every page of a signed-in user opens."""

from __future__ import annotations

from channels.db import database_sync_to_async

from chat.selectors import room_ids_for_user
from chatsite.realtime import room_group, user_group
from chatsite.ws import JsonSocketConsumer

WATCHED_FRAMES = {"message.new", "message.deleted"}


class NotificationConsumer(JsonSocketConsumer):
    async def on_connect(self) -> None:
        """Join the user's group: every tab of the user receives the same pushes."""
        await self.join(user_group(self.user.pk))

    async def user_frame(self, event: dict) -> None:
        """A frame for this user, already encoded."""
        await self.send(text_data=event["text"])

    async def frame_rooms_watch(self, frame: dict) -> None:
        """The room list page wants new messages of the user's rooms, to keep unread counts live."""
        room_ids = await database_sync_to_async(room_ids_for_user)(user=self.user)
        for room_id in room_ids:
            group = room_group(room_id)
            if group not in self.joined:
                await self.join(group)
        await self.send_json({"type": "rooms.watching", "count": len(room_ids)})

    async def room_frame(self, event: dict) -> None:
        """A room event of a watched room; typing and presence are not the room list's business."""
        if event.get("frame") in WATCHED_FRAMES:
            await self.send(text_data=event["text"])
