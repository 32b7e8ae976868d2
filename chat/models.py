"""Rooms, who is in them, the messages they hold (seq is gapless per room) and their attachments."""

import uuid

from django.conf import settings
from django.db import models


class Room(models.Model):
    class Kind(models.TextChoices):
        PUBLIC = "public", "Public"
        PRIVATE = "private", "Private"
        DIRECT = "direct", "Direct message"

    slug = models.SlugField(max_length=80, unique=True)
    title = models.CharField(max_length=120)
    topic = models.CharField(max_length=300, blank=True)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.PUBLIC)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_seq = models.PositiveBigIntegerField(default=0)

    class Meta:
        ordering = ["title"]

    def __str__(self) -> str:
        return self.title

    @property
    def is_public(self) -> bool:
        return self.kind == self.Kind.PUBLIC


class Membership(models.Model):
    class Role(models.TextChoices):
        MEMBER = "member", "Member"
        OWNER = "owner", "Owner"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    last_read_seq = models.PositiveBigIntegerField(default=0)
    muted = models.BooleanField(default=False)
    joined_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "room"], name="membership_unique_user_room")]

    def __str__(self) -> str:
        return f"{self.user} in {self.room}"


class Message(models.Model):
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="messages")
    seq = models.PositiveBigIntegerField()
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    body = models.TextField(max_length=4000)  # the source, kept for editing
    html = models.TextField(blank=True, default="")  # body rendered and sanitized once (chat.formatting)
    reply_to = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="replies")
    created_at = models.DateTimeField(auto_now_add=True)
    edited_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    client_id = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["room", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["room", "seq"], name="message_unique_room_seq"),
            # A client retrying the same send gets the first message back instead of a duplicate.
            models.UniqueConstraint(
                fields=["room", "author", "client_id"],
                condition=~models.Q(client_id=""),
                name="message_unique_client_id",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.room.slug}#{self.seq}"


def _attachment_path(attachment: "Attachment", filename: str) -> str:
    # The stored name never contains the uploader's file name: no path tricks, nothing to guess.
    return f"attachments/{attachment.room_id}/{attachment.pk.hex}{filename}"


class Attachment(models.Model):
    """A file uploaded into a room; readable through the download view once attached to a message."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="attachments")
    uploader = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="chat_attachments"
    )
    message = models.ForeignKey(Message, null=True, blank=True, on_delete=models.CASCADE, related_name="attachments")
    file = models.FileField(upload_to=_attachment_path, max_length=200)
    thumbnail = models.FileField(upload_to=_attachment_path, max_length=200, blank=True)
    name = models.CharField(max_length=255)
    size = models.PositiveBigIntegerField()
    content_type = models.CharField(max_length=100)
    is_image = models.BooleanField(default=False)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["created_at"]
        indexes = [models.Index(fields=["uploader", "created_at"], name="attachment_uploader_idx")]

    def __str__(self) -> str:
        return self.name


class Reaction(models.Model):
    """One user's emoji on one message (at most one of each emoji per user and message)."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="reactions")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    emoji = models.CharField(max_length=32)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["message", "user", "emoji"], name="reaction_unique_message_user_emoji")
        ]

    def __str__(self) -> str:
        return f"{self.emoji} by {self.user} on {self.message}"


class DirectRoom(models.Model):
    """The pair of users a direct-message room belongs to: DMs are found by this pair, never by a name."""

    room = models.OneToOneField(Room, on_delete=models.CASCADE, primary_key=True, related_name="direct")
    user_low = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    user_high = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user_low", "user_high"], name="directroom_unique_pair"),
            models.CheckConstraint(condition=models.Q(user_low__lt=models.F("user_high")), name="directroom_ordered"),
        ]

    def __str__(self) -> str:
        return f"DM {self.user_low_id}-{self.user_high_id}"
