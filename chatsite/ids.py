"""Ids and counters taken from requests: inside the database's signed 64-bit range, or "not found"."""

from __future__ import annotations

from django.urls import register_converter

from chatsite.errors import NotFound

# BigAutoField and PositiveBigIntegerField on PostgreSQL and SQLite: a larger number is no row, and
# passing it on would be an OverflowError (SQLite) or a DataError (PostgreSQL), i.e. a 500.
DB_INT_MIN = -(2**63)
DB_INT_MAX = 2**63 - 1


def in_db_range(value: int) -> bool:
    return DB_INT_MIN <= value <= DB_INT_MAX


def db_int(value: int, *, what: str = "item") -> int:
    """`value`, or NotFound when no row can have it (the same answer as for any missing id)."""
    if not in_db_range(value):
        raise NotFound(f"There is no such {what}.")
    return value


class DbIdConverter:
    """`<id:name>` in URL patterns: a whole number a database row can have; others simply do not match (404)."""

    regex = "[0-9]{1,19}"

    def to_python(self, value: str) -> int:
        number = int(value)
        if not in_db_range(number):
            raise ValueError(value)
        return number

    def to_url(self, value: int) -> str:
        return str(value)


register_converter(DbIdConverter, "id")
