"""Fencing tokens checked in the database: a resource accepts writes only from the newest lock holder."""

from __future__ import annotations

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.transaction import TransactionManagementError
from django.utils import timezone

from redis_toolkit.locks import StaleFencingToken
from redis_toolkit.models import Fence

__all__ = ["StaleFencingToken", "fence_advance"]

_MAX_TOKEN = 2**63 - 1


def fence_advance(resource: str, token: int, *, using: str = DEFAULT_DB_ALIAS) -> None:
    """Record `token` for `resource`, or raise StaleFencingToken if a newer one was (an equal one passes: the
    same lease writing again). Call it inside the transaction.atomic() of the write it guards."""
    if not isinstance(resource, str) or not resource or len(resource) > 200:
        raise ValueError(f"resource must be a non-empty string of at most 200 characters, got {resource!r}")
    if isinstance(token, bool) or not isinstance(token, int) or not 0 < token <= _MAX_TOKEN:
        raise ValueError(f"token must be a positive fencing token (lease.fencing_token), got {token!r}")
    connection = connections[using]
    if not connection.in_atomic_block:
        raise TransactionManagementError(
            "fence_advance() must run inside transaction.atomic() together with the write it guards"
        )
    table = connection.ops.quote_name(Fence._meta.db_table)
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    # One statement on both PostgreSQL and SQLite: the row lock taken by the upsert orders concurrent
    # holders, and the WHERE re-checks against the newest committed token.
    sql = (
        f"INSERT INTO {table} (resource, last_token, updated_at) VALUES (%s, %s, %s) "
        "ON CONFLICT (resource) DO UPDATE SET last_token = excluded.last_token, updated_at = excluded.updated_at "
        f"WHERE {table}.last_token <= excluded.last_token"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [resource, token, now])
        if cursor.rowcount == 1:
            return
    last = Fence.objects.using(using).filter(resource=resource).values_list("last_token", flat=True).first()
    error = StaleFencingToken(
        f"stale fencing token {token} for {resource!r}: a newer lock holder already wrote with {last}"
    )
    error.accepted = last  # what a holder repairs a restored (older) fencing counter to: locks.fencing_counter_raise
    raise error
