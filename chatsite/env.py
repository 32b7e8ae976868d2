"""Typed readers for environment variables that fail with one line naming the variable."""

from __future__ import annotations

import os
from urllib.parse import urlparse

from django.core.exceptions import ImproperlyConfigured


class ConfigError(ImproperlyConfigured):
    """A setting read from the environment has a value chatsite cannot use."""


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def is_set(name: str) -> bool:
    return name in os.environ


def env_str(name: str, default: str | None = None) -> str | None:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"{name}={raw!r} is not a boolean; use one of 1/0, true/false, yes/no, on/off.")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a whole number.") from None
    if minimum is not None and value < minimum:
        raise ConfigError(f"{name}={raw!r} must be at least {minimum}.")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return list(default)
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_port(name: str, default: int) -> int:
    port = env_int(name, default, minimum=1)
    if port > 65535:
        raise ConfigError(f"{name}={port} is not a TCP port; use 1-65535.")
    return port


def env_redis_url(name: str, default: str) -> str:
    return _redis_url(name, os.environ.get(name, default).strip())


def env_redis_urls(name: str, default: list[str]) -> list[str]:
    """Comma-separated Redis URLs, each checked like env_redis_url."""
    return [_redis_url(name, raw) for raw in env_list(name, default)]


def _redis_url(name: str, raw: str) -> str:
    try:
        parsed = urlparse(raw)
        parsed.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise ConfigError(f"{name}={raw!r} is not a valid Redis URL ({exc}).") from None
    if parsed.scheme not in {"redis", "rediss", "unix"}:
        raise ConfigError(
            f"{name}={raw!r} is not a Redis URL; expected redis://host:port/db, rediss://... or unix:///path.sock."
        )
    if parsed.scheme != "unix" and not parsed.hostname:
        raise ConfigError(f"{name}={raw!r} has no host; expected redis://host:port/db.")
    db = parsed.path.lstrip("/")
    if parsed.scheme != "unix" and db and not db.isdigit():
        raise ConfigError(f"{name}={raw!r} names database {db!r}; the database must be a number, e.g. /0.")
    return raw


def env_database(name: str, default: str) -> dict:
    import dj_database_url

    raw = os.environ.get(name, default).strip()
    expected = "expected postgres://user@host:5432/dbname or sqlite:////absolute/path.sqlite3"
    try:
        config = dj_database_url.parse(raw, conn_max_age=60, conn_health_checks=True)
    except Exception:  # dj-database-url raises several types for a bad URL
        raise ConfigError(f"{name}={raw!r} is not a database URL; {expected}.") from None
    engine = config.get("ENGINE", "")
    if not engine.endswith(("postgresql", "sqlite3")) or not config.get("NAME"):
        raise ConfigError(f"{name}={raw!r} is not a supported database URL; {expected}.")
    # Kept open between requests and consumer calls: opening one per message cost a tenth of the CPU.
    return config


def env_host_ports(name: str) -> list[tuple[str, int]]:
    """`host:port,host:port` (e.g. Redis Sentinels); empty when unset."""
    pairs = []
    for item in env_list(name, []):
        host, _, port = item.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError(f"{name} has {item!r}; expected host:port, e.g. 10.0.0.5:26379.")
        pairs.append((host.strip("[]"), int(port)))
    return pairs


def env_networks(name: str, default: list[str]) -> list:
    """Comma-separated IP addresses or CIDR networks, as ipaddress networks."""
    import ipaddress

    networks = []
    for item in env_list(name, default):
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ConfigError(f"{name} has {item!r}; expected an IP address or network, e.g. 10.0.0.0/8.") from None
    return networks
