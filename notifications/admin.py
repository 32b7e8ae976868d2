from django.contrib import admin

from notifications.models import Broadcast, Notification


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ["recipient", "kind", "text", "actor", "room", "created_at", "read_at"]
    list_filter = ["kind", ("read_at", admin.EmptyFieldListFilter), "created_at"]
    search_fields = ["recipient__username", "text", "event_id"]
    list_select_related = ["recipient", "actor", "room"]
    raw_id_fields = ["recipient", "actor", "room", "message"]
    readonly_fields = ["event_id", "created_at"]


@admin.register(Broadcast)
class BroadcastAdmin(admin.ModelAdmin):
    list_display = ["text", "room", "created_by", "created_at", "recipients", "completed_at"]
    readonly_fields = ["created_by", "created_at", "recipients", "completed_at"]
