"""Is a socket's browser session still signed in? The same checks Django makes on every HTTP request."""

from __future__ import annotations

import functools
from importlib import import_module
from types import SimpleNamespace

from django.conf import settings
from django.contrib.auth import (
    BACKEND_SESSION_KEY,
    HASH_SESSION_KEY,
    SESSION_KEY,
    get_user,
    get_user_model,
    load_backend,
)
from django.contrib.sessions.models import Session
from django.db import connection
from django.http.cookie import parse_cookie
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from chatsite.socket_db import row_values


def _store(session_key: str | None):
    return import_module(settings.SESSION_ENGINE).SessionStore(session_key)


def session_still_valid(session_key: str, user_id: int) -> bool:
    """True while the session exists, has not expired, belongs to `user_id`, whose account is active and
    whose password is unchanged (the session's auth hash still matches, as `django.contrib.auth.get_user`
    checks for HTTP)."""
    user = get_user(SimpleNamespace(session=_store(session_key)))  # flushes a session whose auth hash no longer matches
    return user.is_authenticated and user.pk == user_id


def session_expiry(session_key: str) -> float | None:
    """Seconds until the session expires (as stored: HTTP use may move it later); None if it is gone."""
    expires = Session.objects.filter(session_key=session_key).values_list("expire_date", flat=True).first()
    if expires is None:
        return None
    return (expires - timezone.now()).total_seconds()


@functools.cache  # per database vendor: the quoting differs
def _user_and_expiry_sql(vendor: str) -> tuple[str, list[str], list]:
    # The user's row and its session's stored expiry in one statement (a handshake makes one DB call).
    User = get_user_model()
    fields = [*User._meta.concrete_fields, Session._meta.get_field("expire_date")]
    quote = connection.ops.quote_name
    user_table, session_table = quote(User._meta.db_table), quote(Session._meta.db_table)
    select = ", ".join(f"{'s' if field.model is Session else 'u'}.{quote(field.column)}" for field in fields)
    sql = (
        f"SELECT {select} FROM {user_table} u LEFT JOIN {session_table} s"
        f" ON s.{quote('session_key')} = %s WHERE u.{quote(User._meta.pk.column)} = %s"
    )
    return sql, [field.attname for field in fields[:-1]], fields


def session_sign_in(session_key: str | None) -> tuple[object | None, float | None]:
    """The active user a browser session signs in, and seconds until the session's stored expiry.

    What `get_user` decides for HTTP (backend listed, account active, auth hash matching), with the user
    and the expiry read in one query; anything but the plain case (a hash from SECRET_KEY_FALLBACKS, a
    mismatch, which flushes the session) is left to `get_user` itself. (None, None): not signed in.
    """
    if not session_key:
        return None, None
    store = _store(session_key)
    try:
        user_id = get_user_model()._meta.pk.to_python(store[SESSION_KEY])
        backend_path = store[BACKEND_SESSION_KEY]
    except (KeyError, ValueError):
        return None, None
    if backend_path not in settings.AUTHENTICATION_BACKENDS:
        return None, None
    sql, attnames, fields = _user_and_expiry_sql(connection.vendor)
    with connection.cursor() as cursor:
        cursor.execute(sql, [store.session_key, user_id])
        row = cursor.fetchone()
    if row is None:
        return None, None
    *values, expires = row_values(fields, row)
    user = get_user_model().from_db(connection.alias, attnames, values)
    can_authenticate = getattr(load_backend(backend_path), "user_can_authenticate", None)
    if can_authenticate is not None and not can_authenticate(user):
        return None, None
    session_hash = store.get(HASH_SESSION_KEY)
    if not (session_hash and constant_time_compare(session_hash, user.get_session_auth_hash())):
        user = get_user(SimpleNamespace(session=store))  # fallback secrets, or flush on a mismatch
        if not user.is_authenticated:
            return None, None
    return user, (expires - timezone.now()).total_seconds() if expires is not None else None


def session_key_from_scope(scope: dict) -> str | None:
    """The session cookie of a WebSocket handshake.

    A socket needs only the key: its handshake's database call signs in from it, and the later checks
    (sign-out, expiry) read the session by it. A session store in the scope (Channels' SessionMiddleware,
    then a middleware of chatsite's) stayed for the socket's whole life with a cache backend of its own
    (Django's caches are per async context), and the middleware's scope copy beside it: about 2 KB of
    every idle socket.
    """
    for name, value in scope.get("headers", ()):
        if name == b"cookie":
            return parse_cookie(value.decode("latin1")).get(settings.SESSION_COOKIE_NAME)
    return None
