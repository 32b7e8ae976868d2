"""The toolkit's settings: `settings.REDIS_TOOLKIT` over the documented defaults below; it reads nothing else."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

# Every name the toolkit reads, with its default; the site passes its values in REDIS_TOOLKIT.
DEFAULTS: dict[str, Any] = {
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "REDIS_SENTINELS": (),  # ((host, port), ...): when set, the master is asked of them (REDIS_URL is unused)
    "REDIS_SENTINEL_MASTER": "mymaster",  # the master's name in the Sentinels' configuration
    "REDIS_KEY_PREFIX": "",  # every key starts with it (redis_key)
    "REDIS_SOCKET_TIMEOUT": 2,  # seconds, for connects, replies and a free pooled connection
    "REDIS_MAX_CONNECTIONS": 100,  # per process and purpose
    "RATE_LIMITS": {},  # {"name": {"limits": "10/10s, 60/1m", "fail": "open" | "closed"}}
    "NUM_PROXIES": 0,  # proxies appending to X-Forwarded-For in front of the site (client_ip)
    "RATE_LIMIT_JSON_PATHS": (),  # path prefixes answered in JSON when refused, e.g. ("/api/",)
    "RATE_LIMIT_429_TEMPLATE": None,  # template of the refusal page ({detail, retry_after}); None: plain text
    "RATE_LIMIT_503_TEMPLATE": None,  # template shown when a fail-closed rule cannot be checked ({detail})
    "STREAMS_MAXLEN": 100_000,  # entries kept per stream (XADD MAXLEN ~)
    "STREAMS_DEAD_LETTER_MAXLEN": 10_000,
    "STREAMS_BATCH_SIZE": 200,  # entries per XREADGROUP
    "STREAMS_MAX_DELIVERIES": 5,  # then the entry is dead-lettered
    "STREAMS_RETRY_DELAY_MS": 1000,  # first retry; doubles each time
    "STREAMS_CLAIM_IDLE_MS": 30_000,  # a consumer silent this long is gone: its entries are claimed
    "STREAMS_RELAY_INTERVAL_MS": 500,
    "STREAMS_RELAY_MIN_AGE_MS": 1000,  # younger unsent rows are left to the fast path
    "STREAMS_OUTBOX_KEEP_HOURS": 72,  # handled rows are deleted after this
    "STREAMS_HANDLER_MODULES": (),  # imported besides every app's handlers.py
}


class ConfigError(ImproperlyConfigured):
    """A toolkit setting (or a rate-limit rule) has a value the toolkit cannot use."""


def toolkit_setting(name: str) -> Any:
    """`REDIS_TOOLKIT[name]`, or its default; a name that is not in DEFAULTS is a bug."""
    return getattr(settings, "REDIS_TOOLKIT", {}).get(name, DEFAULTS[name])
