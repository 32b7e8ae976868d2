"""Rooms, memberships and messages in the admin, with moderation that live clients see."""

from django.contrib import admin, messages

from chat.models import Attachment, Membership, Message, Room
from chat.services import message_delete


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]
    fields = ["user", "role", "last_read_seq", "muted", "joined_at"]
    readonly_fields = ["last_read_seq", "joined_at"]


@admin.register(Room)
class RoomAdmin(admin.ModelAdmin):
    list_display = ["slug", "title", "kind", "last_seq", "created_by", "created_at"]
    list_filter = ["kind", "created_at"]
    search_fields = ["slug", "title", "topic"]
    readonly_fields = ["last_seq", "created_at"]
    inlines = [MembershipInline]
    prepopulated_fields = {"slug": ["title"]}


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "room", "role", "last_read_seq", "muted", "joined_at"]
    list_filter = ["role", "muted", "room__kind"]
    search_fields = ["user__username", "room__slug", "room__title"]
    autocomplete_fields = ["user", "room"]


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ["room", "seq", "author", "short_body", "created_at", "edited_at", "deleted_at"]
    list_filter = ["room", ("deleted_at", admin.EmptyFieldListFilter), "created_at"]
    search_fields = ["body", "author__username", "room__slug"]
    list_select_related = ["room", "author"]
    readonly_fields = ["room", "seq", "author", "client_id", "created_at", "edited_at", "deleted_at"]
    fields = ["room", "seq", "author", "body", "client_id", "created_at", "edited_at", "deleted_at"]
    actions = ["hide_messages"]

    def has_add_permission(self, request):
        return False  # messages are posted in rooms, where they get their seq

    @admin.display(description="Body")
    def short_body(self, message):
        return message.body[:80]

    @admin.action(description="Delete (hide) selected messages for everyone")
    def hide_messages(self, request, queryset):
        for message in queryset.select_related("room"):
            message_delete(room=message.room, message_id=message.pk, actor=request.user)
        self.message_user(
            request, f"Hid {queryset.count()} message(s); open rooms removed them live.", messages.SUCCESS
        )


@admin.register(Attachment)
class AttachmentAdmin(admin.ModelAdmin):
    list_display = ["name", "room", "uploader", "content_type", "size", "message", "created_at"]
    list_filter = ["is_image", "content_type", ("message", admin.EmptyFieldListFilter), "created_at"]
    search_fields = ["name", "uploader__username", "room__slug"]
    list_select_related = ["room", "uploader", "message"]
    readonly_fields = [
        "id", "room", "uploader", "message", "file", "thumbnail", "name", "size", "content_type", "is_image",
        "width", "height", "created_at",
    ]  # fmt: skip

    def has_add_permission(self, request):
        return False  # files are uploaded from a room's composer, where they are checked
