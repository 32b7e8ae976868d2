"""Typed readers for environment variables that fail with one line naming the variable."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlparse

# One error for every bad setting, the toolkit's included (a rate-limit rule, for one).
from redis_toolkit.conf import ConfigError
from redis_toolkit.ratelimit.rules import ENV_PREFIX, env_name, parse_fail, parse_limits, parse_rule

__all__ = ["ConfigError"]


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


def env_host(name: str, default: str) -> str:
    """A host name or IP address to listen on (no scheme, port or path)."""
    raw = os.environ.get(name, default).strip()
    if not raw or (any(c in raw for c in "/: ") and not _is_ipv6(raw)):
        raise ConfigError(f"{name}={raw!r} is not a host to listen on; use a name or address such as 127.0.0.1 or ::.")
    return raw


def _is_ipv6(text: str) -> bool:
    import ipaddress

    try:
        return ipaddress.ip_address(text).version == 6
    except ValueError:
        return False


def env_dir(name: str, default: str) -> Path:
    """A directory chatsite may create and write to (an existing file there is refused)."""
    raw = os.environ.get(name, default).strip()
    path = Path(raw).expanduser()
    if not raw or (path.exists() and not path.is_dir()):
        raise ConfigError(
            f"{name}={raw!r} is not a directory; give a path chatsite may create, e.g. /var/lib/chatsite."
        )
    return path


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


def rate_limits_from_env(rules: Mapping[str, Mapping], environ: Mapping[str, str] = os.environ) -> dict[str, dict]:
    """Validate RATE_LIMITS and apply `RATE_LIMIT_<RULE>="5/10s,30/1m"` / `RATE_LIMIT_<RULE>_FAIL=open`."""
    result: dict[str, dict] = {}
    known: dict[str, str] = {}
    for name, spec in rules.items():
        rule = parse_rule(name, spec)
        variable = env_name(name)
        if variable in known:
            raise ConfigError(f"RATE_LIMITS: rules {known[variable]!r} and {name!r} share the variable {variable}.")
        known[variable] = known[f"{variable}_FAIL"] = name
        limits, fail_open = rule.limits, rule.fail_open
        if variable in environ:
            limits = ", ".join(str(w) for w in parse_limits(environ[variable], where=variable))
        if f"{variable}_FAIL" in environ:
            fail_open = parse_fail(environ[f"{variable}_FAIL"], where=f"{variable}_FAIL")
        result[name] = {"limits": limits, "fail": "open" if fail_open else "closed"}
    for variable in environ:
        if variable.startswith(ENV_PREFIX) and variable not in known:
            rule_variables = ", ".join(sorted(v for v in known if not v.endswith("_FAIL") or v[:-5] not in known))
            raise ConfigError(f"{variable} names no rate-limit rule; known: {rule_variables} (and their _FAIL twins).")
    return result


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
