"""Admin pages of the Redis toolkit that have no model: rate-limit rules, their refusals, look-up and reset."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse

from chatsite.redis_toolkit.ratelimit import (
    REDIS_DOWN,
    RateLimitUnavailable,
    rate_limit,
    rate_limit_hits,
    rate_limit_reset,
)
from chatsite.redis_toolkit.ratelimit_rules import env_name, known_rules


def _status(rule: str, key: str) -> list[dict]:
    result = rate_limit(rule, key, cost=0)  # cost 0 only looks
    if result.degraded:
        raise RateLimitUnavailable(rule)
    return [{**vars(state), "used": state.limit - state.remaining} for state in result.windows]


def _ratelimit_page(request: HttpRequest) -> HttpResponse:
    """Staff see every rule and how often it refused; superusers may reset one key."""
    data = request.POST if request.method == "POST" else request.GET
    rule, key = data.get("rule", ""), data.get("key", "").strip()
    rules = {r.name: r for r in known_rules()}
    can_reset = request.user.is_superuser
    if request.method == "POST" and can_reset and rule in rules and key:
        existed = rate_limit_reset(rule, key)
        messages.success(
            request, f"Reset {rule} for {key}." if existed else f"Nothing was counted for {key} under {rule}."
        )
        return redirect(f"{request.path}?{urlencode({'rule': rule, 'key': key})}")
    context = {**admin.site.each_context(request), "title": "Rate limits", "lookup_rule": rule, "lookup_key": key}
    try:
        hits = rate_limit_hits()
        context["status"] = _status(rule, key) if rule in rules and key else None
    except (*REDIS_DOWN, RateLimitUnavailable) as exc:
        hits, context["redis_error"] = {}, str(exc)
    context["rows"] = [{"rule": r, "variable": env_name(r.name), "denied": hits.get(r.name, 0)} for r in rules.values()]
    context["can_reset"] = can_reset
    return TemplateResponse(request, "admin/redis_toolkit/ratelimits.html", context)


ratelimit_admin_view = admin.site.admin_view(_ratelimit_page)
