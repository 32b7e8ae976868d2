"""Rooms, memberships and messages in the admin, with moderation that live clients see."""

from django.contrib import admin, messages
from django.db import transaction

from chat.membership import membership_gone_on_commit
from chat.models import Attachment, Membership, Message, Reaction, Room
from chat.services import message_delete, reaction_remove
from chatsite.realtime import recheck_room_access_on_commit


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

    # Access taken away here takes effect at once, as through the site: the sockets re-check (4403).
    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if change and "kind" in form.changed_data and obj.kind != Room.Kind.PUBLIC:
            recheck_room_access_on_commit(obj.pk)

    def save_formset(self, request, form, formset, change):
        super().save_formset(request, form, formset, change)
        for deleted in getattr(formset, "deleted_objects", ()):
            if isinstance(deleted, Membership):
                membership_gone_on_commit(membership=deleted)

    def delete_model(self, request, obj):
        room_id = obj.pk
        super().delete_model(request, obj)
        recheck_room_access_on_commit(room_id)

    @transaction.atomic
    def delete_queryset(self, request, queryset):
        room_ids = list(queryset.values_list("pk", flat=True))
        super().delete_queryset(request, queryset)
        for room_id in room_ids:
            recheck_room_access_on_commit(room_id)


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "room", "role", "last_read_seq", "muted", "joined_at"]
    list_filter = ["role", "muted", "room__kind"]
    search_fields = ["user__username", "room__slug", "room__title"]
    autocomplete_fields = ["user", "room"]

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        membership_gone_on_commit(membership=obj)

    @transaction.atomic
    def delete_queryset(self, request, queryset):
        gone = list(queryset.select_related("room"))
        super().delete_queryset(request, queryset)
        for membership in gone:
            membership_gone_on_commit(membership=membership)


class ReactionInline(admin.TabularInline):
    model = Reaction
    extra = 0
    fields = ["emoji", "user", "created_at"]
    readonly_fields = fields
    can_delete = False  # removing goes through the action below, so open rooms see it

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ["room", "seq", "author", "short_body", "reply_to", "created_at", "edited_at", "deleted_at"]
    list_filter = ["room", ("deleted_at", admin.EmptyFieldListFilter), ("reply_to", admin.EmptyFieldListFilter)]
    search_fields = ["body", "author__username", "room__slug"]
    list_select_related = ["room", "author", "reply_to__room"]
    readonly_fields = ["room", "seq", "author", "html", "reply_to", "client_id", "created_at", "edited_at"]
    readonly_fields += ["deleted_at"]
    fields = ["room", "seq", "author", "body", "html", "reply_to", "client_id", "created_at", "edited_at"]
    fields += ["deleted_at"]
    inlines = [ReactionInline]
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


@admin.register(Reaction)
class ReactionAdmin(admin.ModelAdmin):
    """Reactions are added in rooms; deleting one here takes it back as its user would, live."""

    list_display = ["emoji", "user", "message", "created_at"]
    list_filter = ["message__room", "created_at"]
    search_fields = ["emoji", "user__username", "message__room__slug"]
    list_select_related = ["user", "message__room"]
    readonly_fields = ["message", "user", "emoji", "created_at"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def delete_model(self, request, obj):
        self.delete_queryset(request, Reaction.objects.filter(pk=obj.pk))

    def delete_queryset(self, request, queryset):
        for reaction in queryset.select_related("message__room", "user"):
            message = reaction.message
            if message.deleted_at is not None:  # nobody sees it: no push needed
                reaction.delete()
                continue
            reaction_remove(room=message.room, message_id=message.pk, user=reaction.user, emoji=reaction.emoji)
