"""Notifications in the admin, and the "Send notification" page (a Broadcast delivered by the workers)."""

from django import forms
from django.contrib import admin

from chatsite.errors import UserError
from notifications.models import Broadcast, Notification
from notifications.services import broadcast_audience, broadcast_request
from redis_toolkit.ratelimit.http import ratelimit_view


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ["recipient", "kind", "text", "actor", "room", "created_at", "read_at"]
    list_filter = ["kind", ("read_at", admin.EmptyFieldListFilter), "created_at"]
    search_fields = ["recipient__username", "text", "event_id"]
    list_select_related = ["recipient", "actor", "room"]
    raw_id_fields = ["recipient", "actor", "room", "message"]
    readonly_fields = ["event_id", "created_at"]


class BroadcastForm(forms.ModelForm):
    users = forms.CharField(
        required=False,
        help_text="Comma-separated usernames. Leave this and Room empty to notify every user.",
    )

    class Meta:
        model = Broadcast
        fields = ["text", "room"]
        help_texts = {"room": "Only this room's members."}

    def clean(self):
        data = super().clean()
        data["usernames"] = [name.strip() for name in data.get("users", "").split(",") if name.strip()]
        if data.get("room") and data["usernames"]:
            raise forms.ValidationError("Choose a room or a list of users, not both.")
        try:
            broadcast_audience(room=data.get("room"), usernames=data["usernames"])
        except UserError as exc:
            raise forms.ValidationError(exc.detail) from None
        return data


@admin.register(Broadcast)
class BroadcastAdmin(admin.ModelAdmin):
    form = BroadcastForm
    list_display = ["text", "room", "created_by", "created_at", "recipients", "completed_at"]
    readonly_fields = ["created_by", "created_at", "recipients", "completed_at"]

    def get_fields(self, request, obj=None):
        return ["text", "room", "users"] if obj is None else ["text", "room", *self.readonly_fields]

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request, obj)

    def save_model(self, request, obj, form, change):
        """Sending is the workers' job: record the broadcast and its event in one transaction."""
        data = form.cleaned_data
        saved = broadcast_request(
            text=data["text"], created_by=request.user, room=data.get("room"), usernames=data["usernames"]
        )
        obj.pk = saved.pk

    def add_view(self, request, form_url="", extra_context=None):
        context = {**(extra_context or {}), "title": "Send notification"}

        # Every "Send" counts against the admin's notifications.broadcast limit.
        @ratelimit_view("notifications.broadcast", key="user", methods=("POST",))
        def page(request):
            return super(BroadcastAdmin, self).add_view(request, form_url, context)

        return page(request)
