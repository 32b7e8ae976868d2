"""Every Redis key chatsite writes is named here, under the configured prefix."""

from __future__ import annotations

from django.conf import settings


def redis_key(*parts: object) -> str:
    """`redis_key("lock", "relay")` -> "chatsite:lock:relay" (prefix from REDIS_KEY_PREFIX)."""
    return settings.REDIS_KEY_PREFIX + ":".join(str(part) for part in parts)
