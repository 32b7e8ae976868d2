"""Notifications: one row per recipient and event, so a redelivered event never notifies twice."""

from django.conf import settings
from django.db import models


class Notification(models.Model):
    class Kind(models.TextChoices):
        MENTION = "mention", "Mention"
        REPLY = "reply", "Reply"
        DIRECT_MESSAGE = "direct_message", "Direct message"
        ROOM_INVITE = "room_invite", "Room invitation"
        BROADCAST = "broadcast", "Broadcast"

    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    room = models.ForeignKey("chat.Room", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    message = models.ForeignKey("chat.Message", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    text = models.CharField(max_length=300)
    data = models.JSONField(default=dict, blank=True)
    event_id = models.CharField(max_length=64, help_text="The event that caused it; unique per recipient.")
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["recipient", "event_id"], name="notification_unique_recipient_event"),
        ]
        indexes = [models.Index(fields=["recipient", "read_at", "-created_at"], name="notification_inbox")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} for {self.recipient}: {self.text}"


class Broadcast(models.Model):
    """An admin's announcement to everyone, a room's members or a list of users."""

    text = models.CharField(max_length=300)
    room = models.ForeignKey("chat.Room", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    usernames = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    recipients = models.PositiveIntegerField(default=0)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "broadcast (send notification)"

    def __str__(self) -> str:
        return self.text[:60]
