"""Admin pages of the Redis toolkit: fencing marks and the outbox (read-only), streams, rate limits."""

from urllib.parse import urlencode

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path
from redis.exceptions import RedisError

from redis_toolkit.events.outbox import outbox_backlog
from redis_toolkit.events.status import dead_letter_replay, dead_letters, stream_status
from redis_toolkit.models import Fence, OutboxEvent, RateLimitRule, Stream
from redis_toolkit.ratelimit.core import (
    REDIS_DOWN,
    RateLimitUnavailable,
    rate_limit_reset,
    rate_limit_rules,
    rate_limit_status,
)
from redis_toolkit.ratelimit.rules import known_rules


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


class SinglePageAdmin(admin.ModelAdmin):
    """A table-less model's admin: its changelist URL shows one page built from Redis."""

    def get_urls(self):
        name = f"{self.opts.app_label}_{self.opts.model_name}_changelist"
        return [path("", self.admin_site.admin_view(self.changelist_view), name=name)]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Stream)
class StreamAdmin(SinglePageAdmin):
    """One page, no table: status read from Redis; replaying dead letters needs the change permission."""

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
            moved = len(dead_letter_replay(stream=stream, entry_ids=[entry_id] if entry_id else None))
        except (ValueError, RedisError) as exc:
            self.message_user(request, f"Nothing replayed: {exc}", messages.ERROR)
        else:
            self.message_user(request, f"Replayed {moved} dead letter(s) of {stream}.", messages.SUCCESS)
        return HttpResponseRedirect(request.path)


@admin.register(RateLimitRule)
class RateLimitAdmin(SinglePageAdmin):
    """One page, no table: every rule with its refusals; looking up a key; resetting one needs the change permission."""

    def changelist_view(self, request, extra_context=None):
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        data = request.POST if request.method == "POST" else request.GET
        rule, key = data.get("rule", ""), data.get("key", "").strip()
        if rule not in {known.name for known in known_rules()}:
            rule = ""
        if request.method == "POST":
            return self._reset(request, rule, key)
        context = {
            **self.admin_site.each_context(request),
            "title": "Rate limits",
            "opts": self.opts,
            "can_reset": self.has_change_permission(request),
            "lookup_rule": rule,
            "lookup_key": key,
            "rows": [(known, 0) for known in known_rules()],
        }
        try:
            context["rows"] = rate_limit_rules()
            context["status"] = (
                rule and key and [{**w._asdict(), "used": w.limit - w.remaining} for w in rate_limit_status(rule, key)]
            )
        except (*REDIS_DOWN, RateLimitUnavailable) as exc:
            context["redis_error"] = f"{type(exc).__name__}: {exc}"
        return TemplateResponse(request, "admin/redis_toolkit/ratelimits.html", context)

    def _reset(self, request, rule: str, key: str):
        if not self.has_change_permission(request):
            raise PermissionDenied
        if not rule or not key:
            self.message_user(request, "Nothing reset: choose a rule and give a key.", messages.ERROR)
            return HttpResponseRedirect(request.path)
        existed = rate_limit_reset(rule, key)
        text = f"Reset {rule} for {key}." if existed else f"Nothing was counted for {key} under {rule}."
        self.message_user(request, text, messages.SUCCESS)
        return HttpResponseRedirect(f"{request.path}?{urlencode({'rule': rule, 'key': key})}")
