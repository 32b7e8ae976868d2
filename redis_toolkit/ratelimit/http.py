"""Rate limits for Django views: a decorator, key functions, 429/503 answers and RateLimit headers."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from functools import wraps

from asgiref.sync import iscoroutinefunction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string

from redis_toolkit.client import aget_redis, get_redis
from redis_toolkit.conf import toolkit_setting
from redis_toolkit.ratelimit import core
from redis_toolkit.ratelimit.rules import RuleSpec
from redis_toolkit.scripts import Steps, adrive, drive

KeyFunc = Callable[[HttpRequest], str | None]


def client_ip(request: HttpRequest) -> str:
    """The client's address: REMOTE_ADDR, or the X-Forwarded-For entry NUM_PROXIES hops from the end."""
    address = request.META.get("REMOTE_ADDR", "")
    hops = toolkit_setting("NUM_PROXIES")
    if hops:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
        if forwarded:
            address = forwarded[-min(hops, len(forwarded))]
    return address


def key_ip(request: HttpRequest) -> str:
    """`ip:<address>`; IPv6 clients by their /64, which one subscriber usually gets whole."""
    address = client_ip(request)
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return f"ip:{address or 'unknown'}"
    if ip.version == 6:
        if ip.ipv4_mapped is not None:
            return f"ip:{ip.ipv4_mapped}"
        return f"ip:{ipaddress.ip_network(f'{ip}/64', strict=False)}"
    return f"ip:{ip}"


def key_user(request: HttpRequest) -> str | None:
    """`user:<pk>` for signed-in users; anonymous requests are not checked by this key."""
    user = getattr(request, "user", None)
    return f"user:{user.pk}" if user is not None and user.is_authenticated else None


_NAMED_KEYS: dict[str, KeyFunc] = {"ip": key_ip, "user": key_user}


def ratelimit_headers(result: core.RateLimitResult) -> dict[str, str]:
    """`RateLimit-Policy` and `RateLimit` (draft-ietf-httpapi-ratelimit-headers-10): every window of the rule."""
    if result.degraded or not result.windows:
        return {}
    windows = result.windows
    names = [result.rule] if len(windows) == 1 else [f"{result.rule}.{w.period:g}s" for w in windows]
    named = list(zip(names, windows, strict=True))
    policy = ", ".join(f'"{n}";q={w.limit};w={core.seconds(w.period)}' for n, w in named)
    current = ", ".join(f'"{n}";r={w.remaining};t={core.seconds(w.next_unit)}' for n, w in named)
    return {"RateLimit-Policy": policy, "RateLimit": current}


def _refusal(request: HttpRequest, status: int, code: str, detail: str, wait: int, template: str) -> HttpResponse:
    """JSON for API clients; for browsers the page REDIS_TOOLKIT names (`template`), or the detail as plain text."""
    page = toolkit_setting(template)
    if request.path.startswith(tuple(toolkit_setting("RATE_LIMIT_JSON_PATHS"))) or (
        request.get_preferred_type(["text/html", "application/json"]) == "application/json"
    ):
        response = JsonResponse({"error": {"code": code, "detail": detail, "retry_after": wait}}, status=status)
    elif page is None:
        response = HttpResponse(detail, status=status, content_type="text/plain; charset=utf-8")
    else:
        context = {"detail": detail, "retry_after": wait}
        response = HttpResponse(render_to_string(page, context, request=request), status=status)
    response["Retry-After"] = str(wait)
    return response


def too_many_requests(request: HttpRequest, result: core.RateLimitResult) -> HttpResponse:
    """429 with Retry-After and the RateLimit fields."""
    wait = max(1, core.seconds(result.retry_after))
    detail = f"Too many requests; try again in {wait} second{'s' if wait != 1 else ''}."
    response = _refusal(request, 429, "rate_limited", detail, wait, "RATE_LIMIT_429_TEMPLATE")
    for name, value in ratelimit_headers(result).items():
        response[name] = value
    return response


def service_unavailable(request: HttpRequest, exc: core.RateLimitUnavailable) -> HttpResponse:
    """503 for a fail-closed rule while Redis is unreachable (the request was not served)."""
    wait = max(1, core.seconds(exc.retry_after))
    detail = "This is unavailable for a moment; please try again shortly."
    return _refusal(request, 503, "unavailable", detail, wait, "RATE_LIMIT_503_TEMPLATE")


def ratelimit_view(rule: RuleSpec, *, key: str | KeyFunc, methods: Iterable[str] | None = None):
    """Decorate a function view (sync or async): over the limit -> 429; responses carry RateLimit fields.
    `key`: 'ip', 'user' or a function of the request (None: not counted); `methods`: only these count."""
    if not callable(key) and key not in _NAMED_KEYS:
        raise ValueError(f"key={key!r}: use 'ip', 'user' or a function of the request.")
    key_of = _NAMED_KEYS.get(key, key) if isinstance(key, str) else key
    counted = {method.upper() for method in methods} if methods is not None else None

    def checking(request: HttpRequest) -> Steps:
        """Returns a refusal, or None and the result for the RateLimit fields (None when not counted)."""
        if (counted is not None and request.method not in counted) or not (request_key := key_of(request)):
            return None, None
        try:
            result = yield from core.rate_limiting(rule, request_key)
        except core.RateLimitUnavailable as exc:
            return service_unavailable(request, exc), None
        return (None if result.allowed else too_many_requests(request, result)), result

    def finish(response: HttpResponse, result: core.RateLimitResult | None) -> HttpResponse:
        for name, value in ratelimit_headers(result).items() if result else ():
            response.setdefault(name, value)  # unless the view set its own
        return response

    def decorator(view: Callable) -> Callable:
        if iscoroutinefunction(view):  # the login view is async: its slow-down must not hold a thread

            @wraps(view)
            async def awrapper(request, *args, **kwargs):
                refusal, result = await adrive(checking(request), aget_redis(core.PURPOSE), core.REDIS_DOWN)
                return refusal or finish(await view(request, *args, **kwargs), result)

            return awrapper

        @wraps(view)
        def wrapper(request, *args, **kwargs):
            refusal, result = drive(checking(request), get_redis(core.PURPOSE), core.REDIS_DOWN)
            return refusal or finish(view(request, *args, **kwargs), result)

        return wrapper

    return decorator
