"""Is a socket's browser session still signed in? The same checks Django makes on every HTTP request."""

from __future__ import annotations

from importlib import import_module
from types import SimpleNamespace

from django.conf import settings
from django.contrib.auth import get_user
from django.contrib.sessions.models import Session
from django.utils import timezone


def session_still_valid(session_key: str, user_id: int) -> bool:
    """True while the session exists, has not expired, belongs to `user_id`, whose account is active and
    whose password is unchanged (the session's auth hash still matches, as `django.contrib.auth.get_user`
    checks for HTTP)."""
    store = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    user = get_user(SimpleNamespace(session=store))  # flushes a session whose auth hash no longer matches
    return user.is_authenticated and user.pk == user_id


def session_expiry(session_key: str) -> float | None:
    """Seconds until the session expires (as stored: HTTP use may move it later); None if it is gone."""
    expires = Session.objects.filter(session_key=session_key).values_list("expire_date", flat=True).first()
    if expires is None:
        return None
    return (expires - timezone.now()).total_seconds()
