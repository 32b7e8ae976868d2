"""Test settings: the real settings with a Redis key prefix of this run's own (children inherit it)."""

import os
import uuid

os.environ.setdefault("DEBUG", "1")
os.environ.setdefault("REDIS_KEY_PREFIX", f"chatsite-test-{uuid.uuid4().hex[:8]}:")

from chatsite.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast logins in tests

# Threads of async tests must not keep connections open, or the test database cannot be dropped.
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405

# Tests share one client IP and (on SQLite) reuse user ids, so production numbers would let tests
# throttle each other. Rate-limit tests set the numbers they test with override_settings, or, for
# server processes they start, with RATE_LIMIT_<RULE> in the process's environment, which is kept.
from redis_toolkit.ratelimit.rules import env_name  # noqa: E402

RATE_LIMITS = {
    name: rule if env_name(name) in os.environ else {**rule, "limits": "10000/1s"}
    for name, rule in RATE_LIMITS.items()  # noqa: F405
}
REDIS_TOOLKIT = {**REDIS_TOOLKIT, "RATE_LIMITS": RATE_LIMITS}  # noqa: F405
