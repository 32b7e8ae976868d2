"""Writes for accounts: recording sessions and revoking them everywhere."""

from __future__ import annotations

from importlib import import_module

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import UserSession
from chatsite.realtime import push_to_session_on_commit
from redis_toolkit.ratelimit.http import client_ip


def user_session_record(*, request) -> UserSession:
    """Create or refresh the row describing this browser's session."""
    session_key = request.session.session_key
    row, _ = UserSession.objects.update_or_create(
        session_key=session_key,
        defaults={
            "user": request.user,
            "user_agent": request.META.get("HTTP_USER_AGENT", "")[:300],
            "ip": client_ip(request) or None,  # behind proxies: NUM_PROXIES picks the real address
            "last_seen": timezone.now(),
        },
    )
    return row


def user_session_forget(*, session_key: str) -> None:
    UserSession.objects.filter(session_key=session_key).delete()


def _kill(session_key: str) -> None:
    engine = import_module(settings.SESSION_ENGINE)
    engine.SessionStore().delete(session_key)  # cached_db: removes it from Redis and the database
    push_to_session_on_commit(session_key, {"type": "session.revoked"})


@transaction.atomic
def user_session_revoke(*, user, session_key: str) -> bool:
    """Sign one of the user's browsers out; its open sockets close. False if it was not theirs."""
    deleted, _ = UserSession.objects.filter(user=user, session_key=session_key).delete()
    if deleted:
        _kill(session_key)
    return bool(deleted)


@transaction.atomic
def user_session_revoke_others(*, user, keep_session_key: str) -> int:
    """Sign out every session of the user except the current one; returns how many."""
    keys = list(
        UserSession.objects.filter(user=user)
        .exclude(session_key=keep_session_key)
        .values_list("session_key", flat=True)
    )
    UserSession.objects.filter(session_key__in=keys).delete()
    for key in keys:
        _kill(key)
    return len(keys)
