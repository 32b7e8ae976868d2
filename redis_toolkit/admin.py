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
from redis_toolkit.ratelimit.core import RateLimitUnavailable, rate_limit_reset, rate_limit_rules, rate_limit_status
from redis_toolkit.ratelimit.rules import known_rules


class RecordAdmin(admin.ModelAdmin):
    """Rows the toolkit records itself: nobody adds or edits them by hand."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Fence)
class FenceAdmin(RecordAdmin):
    list_display = ("resource", "last_token", "updated_at")
    search_fields = ("resource",)


@admin.register(OutboxEvent)
class OutboxEventAdmin(RecordAdmin):
    list_display = ("id", "type", "stream", "occurred_at", "sent_at")
    list_filter = (("sent_at", admin.EmptyFieldListFilter), "stream", "type")
    search_fields = ("=id", "type")
    date_hierarchy = "occurred_at"

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # events are facts recorded with their change


class SinglePageAdmin(admin.ModelAdmin):
    """A table-less model's admin: its changelist URL shows one page built from Redis; POST needs the change
    permission and goes to `act`, GET fills `template` with what `read` returns (or the Redis error)."""

    title = template = ""

    def get_urls(self):
        name = f"{self.opts.app_label}_{self.opts.model_name}_changelist"
        return [path("", self.admin_site.admin_view(self.changelist_view), name=name)]

    def has_add_permission(self, request) -> bool:
        return False

    def changelist_view(self, request, extra_context=None):
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        if request.method == "POST":
            if not self.has_change_permission(request):
                raise PermissionDenied
            return self.act(request)
        context = {**self.admin_site.each_context(request), "title": self.title, "opts": self.opts}
        context["can_change"] = self.has_change_permission(request)
        try:
            self.read(request, context)
        except (RedisError, RateLimitUnavailable) as exc:
            context["redis_error"] = f"{type(exc).__name__}: {exc}"
        return TemplateResponse(request, self.template, context)


@admin.register(Stream)
class StreamAdmin(SinglePageAdmin):
    """Streams, groups and dead letters; replaying dead letters needs the change permission."""

    title, template = "Streams and dead letters", "admin/redis_toolkit/streams.html"

    def read(self, request, context: dict) -> None:
        context["backlog"] = outbox_backlog()
        context.update(streams=stream_status(), dead_letters=dead_letters(limit=200))

    def act(self, request):
        stream, entry_id = request.POST.get("stream", ""), request.POST.get("entry_id")
        try:
            moved = len(dead_letter_replay(stream=stream, entry_ids=[entry_id] if entry_id else None))
        except (ValueError, RedisError) as exc:
            self.message_user(request, f"Nothing replayed: {exc}", messages.ERROR)
        else:
            self.message_user(request, f"Replayed {moved} dead letter(s) of {stream}.", messages.SUCCESS)
        return HttpResponseRedirect(request.path)


@admin.register(RateLimitRule)
class RateLimitAdmin(SinglePageAdmin):
    """Every rule with its refusals, and one key looked up; resetting it needs the change permission."""

    title, template = "Rate limits", "admin/redis_toolkit/ratelimits.html"

    @staticmethod
    def _lookup(request) -> tuple[str, str]:
        data = request.POST if request.method == "POST" else request.GET
        rule, key = data.get("rule", ""), data.get("key", "").strip()
        return (rule if rule in {known.name for known in known_rules()} else ""), key

    def read(self, request, context: dict) -> None:
        rule, key = context["lookup_rule"], context["lookup_key"] = self._lookup(request)
        context["rows"] = [(known, 0) for known in known_rules()]  # what shows if Redis does not answer
        context["rows"] = rate_limit_rules()
        if rule and key:
            context["status"] = [{**w._asdict(), "used": w.limit - w.remaining} for w in rate_limit_status(rule, key)]

    def act(self, request):
        rule, key = self._lookup(request)
        if not rule or not key:
            self.message_user(request, "Nothing reset: choose a rule and give a key.", messages.ERROR)
            return HttpResponseRedirect(request.path)
        existed = rate_limit_reset(rule, key)
        text = f"Reset {rule} for {key}." if existed else f"Nothing was counted for {key} under {rule}."
        self.message_user(request, text, messages.SUCCESS)
        return HttpResponseRedirect(f"{request.path}?{urlencode({'rule': rule, 'key': key})}")
