"""The notification socket every page of a signed-in user opens."""

from chatsite.ws import JsonSocketConsumer


def user_group(user_id: int) -> str:
    return f"notifications.user.{user_id}"


class NotificationConsumer(JsonSocketConsumer):
    async def on_connect(self) -> None:
        """Join the user's group: every tab of the user receives the same pushes."""
        await self.join(user_group(self.user.pk))
