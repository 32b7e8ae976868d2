"""Redis connections: one pool per process and purpose; errors are never swallowed."""

import pytest
import redis
from django.core.cache import caches
from django.test import override_settings

from redis_toolkit.client import aget_redis, get_redis, redis_key, reset_clients


def test_same_purpose_shares_one_pool(redis_client):
    assert get_redis() is get_redis()
    assert get_redis("other") is not get_redis()


async def test_async_twin_talks_to_the_same_redis(redis_client):
    key = redis_key("test", "async-twin")
    redis_client.set(key, "hello", ex=30)

    assert await aget_redis().get(key) == b"hello"


def test_keys_carry_the_configured_prefix(settings):
    assert redis_key("lock", "relay") == f"{settings.REDIS_KEY_PREFIX}lock:relay"


def test_toolkit_client_raises_when_redis_is_unreachable(spare_redis):
    with override_settings(REDIS_URL=spare_redis.url, REDIS_SOCKET_TIMEOUT=1):
        reset_clients()
        spare_redis.stop()
        with pytest.raises(redis.ConnectionError):
            get_redis().ping()
    reset_clients()


def test_cache_alias_swallows_errors_but_sessions_alias_does_not(spare_redis, settings):
    cache_options = {**settings.CACHES["default"], "LOCATION": spare_redis.url}
    session_options = {**settings.CACHES["sessions"], "LOCATION": spare_redis.url}
    with override_settings(CACHES={"default": cache_options, "sessions": session_options}):
        spare_redis.stop()
        assert caches["default"].get("anything") is None
        with pytest.raises(redis.ConnectionError):
            caches["sessions"].get("anything")
