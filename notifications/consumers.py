"""The notification socket every page of a signed-in user opens."""

from __future__ import annotations

import json

from channels.layers import get_channel_layer

from chatsite.ws import JsonSocketConsumer


def user_group(user_id: int) -> str:
    return f"notifications.user.{user_id}"


async def apush_to_user(user_id: int, frame: dict) -> None:
    """Send one frame to every notification socket (every tab) of a user."""
    text = json.dumps(frame, separators=(",", ":"))
    await get_channel_layer().group_send(user_group(user_id), {"type": "user.frame", "text": text})


class NotificationConsumer(JsonSocketConsumer):
    async def on_connect(self) -> None:
        """Join the user's group: every tab of the user receives the same pushes."""
        await self.join(user_group(self.user.pk))

    async def user_frame(self, event: dict) -> None:
        """A frame for this user, already encoded."""
        await self.send(text_data=event["text"])
