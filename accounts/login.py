"""The login view's brute-force limits, shaped so that nobody can lock another user out.

From one address: `auth.login` (per address) and `auth.login.account` (per username tried from that
address) answer 429. From everywhere together: `auth.login.slow` (per username) only delays each
attempt by LOGIN_SLOWDOWN_SECONDS, so the owner still signs in from their own address.
"""

from __future__ import annotations

import asyncio

from asgiref.sync import sync_to_async
from django.contrib.auth.views import LoginView

from redis_toolkit.ratelimit.core import RateLimitUnavailable, arate_limit
from redis_toolkit.ratelimit.http import key_ip, ratelimit_view

LOGIN_SLOWDOWN_SECONDS = 1.0


def _username(request) -> str:
    return request.POST.get("username", "").strip().casefold()[:150]


def key_username_ip(request) -> str | None:
    name = _username(request)
    return f"username:{name}:{key_ip(request)}" if name else None


# A browser still signed in (its session key renewed by a password change) goes straight back to `next`.
_login = sync_to_async(LoginView.as_view(redirect_authenticated_user=True))


@ratelimit_view("auth.login.account", key=key_username_ip, methods=("POST",))
@ratelimit_view("auth.login", key="ip", methods=("POST",))  # inner: its RateLimit fields are the ones shown
async def login_view(request):
    """Django's LoginView, behind the limits above."""
    if request.method == "POST" and (name := _username(request)):
        try:
            result = await arate_limit("auth.login.slow", f"username:{name}")
        except RateLimitUnavailable:
            result = None
        if result is not None and not result.allowed:
            await asyncio.sleep(LOGIN_SLOWDOWN_SECONDS)
    return await _login(request)
