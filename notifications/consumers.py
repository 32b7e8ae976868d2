"""The notification socket every page of a signed-in user opens."""

from __future__ import annotations

from chatsite.ws import JsonSocketConsumer
from notifications.events import user_group


class NotificationConsumer(JsonSocketConsumer):
    async def on_connect(self) -> None:
        """Join the user's group: every tab of the user receives the same pushes."""
        await self.join(user_group(self.user.pk))

    async def user_frame(self, event: dict) -> None:
        """A frame for this user, already encoded."""
        await self.send(text_data=event["text"])
