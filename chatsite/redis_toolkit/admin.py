"""Admin pages of the Redis toolkit: fencing marks and the outbox (read-only), streams and dead letters."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path
from redis.exceptions import RedisError

from chatsite.redis_toolkit.models import Fence, OutboxEvent, Stream
from chatsite.redis_toolkit.outbox import outbox_backlog
from chatsite.redis_toolkit.streams import dead_letter_replay, dead_letters, stream_status


@admin.register(Fence)
class FenceAdmin(admin.ModelAdmin):
    list_display = ("resource", "last_token", "updated_at")
    search_fields = ("resource",)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(OutboxEvent)
class OutboxEventAdmin(admin.ModelAdmin):
    list_display = ("id", "type", "stream", "occurred_at", "sent_at")
    list_filter = (("sent_at", admin.EmptyFieldListFilter), "stream", "type")
    search_fields = ("=id", "type")
    date_hierarchy = "occurred_at"

    # Events are facts recorded with their change: nobody adds, edits or deletes them by hand.
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Stream)
class StreamAdmin(admin.ModelAdmin):
    """One page, no table: status read from Redis; replaying dead letters needs the change permission."""

    def get_urls(self):
        name = f"{self.opts.app_label}_{self.opts.model_name}_changelist"
        return [path("", self.admin_site.admin_view(self.changelist_view), name=name)]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def changelist_view(self, request, extra_context=None):
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        if request.method == "POST":
            return self._replay(request)
        context = {
            **self.admin_site.each_context(request),
            "title": "Streams and dead letters",
            "opts": self.opts,
            "can_replay": self.has_change_permission(request),
            "backlog": outbox_backlog(),
        }
        try:
            context.update(streams=stream_status(), dead_letters=dead_letters(limit=200))
        except RedisError as exc:
            context["redis_error"] = f"{type(exc).__name__}: {exc}"
        return TemplateResponse(request, "admin/redis_toolkit/streams.html", context)

    def _replay(self, request):
        if not self.has_change_permission(request):
            raise PermissionDenied
        stream = request.POST.get("stream", "")
        entry_id = request.POST.get("entry_id")
        try:
            moved = dead_letter_replay(stream=stream, entry_ids=[entry_id] if entry_id else None)
        except (ValueError, RedisError) as exc:
            self.message_user(request, f"Nothing replayed: {exc}", messages.ERROR)
        else:
            self.message_user(request, f"Replayed {moved} dead letter(s) of {stream}.", messages.SUCCESS)
        return HttpResponseRedirect(request.path)
