"""Rate-limit rules: the "N/period" grammar and the rules named in REDIS_TOOLKIT["RATE_LIMITS"]."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from itertools import pairwise

from django.core.signals import setting_changed

from redis_toolkit.conf import ConfigError, toolkit_setting

MAX_LIMIT = 10_000  # the log keeps one entry per allowed unit: bounded memory per key
MAX_PERIOD = 366 * 86400  # stamps are microseconds in Lua's doubles: exact far beyond this
ENV_PREFIX = "RATE_LIMIT_"

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_LIMIT = re.compile(r"^(\d+)\s*/\s*(\d+(?:\.\d+)?)?\s*([a-z]+)$")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")


@dataclass(frozen=True)
class Window:
    """At most `limit` units in any `period` seconds (a sliding window, not a calendar one)."""

    limit: int
    period: float

    @cached_property
    def micros(self) -> int:
        return round(self.period * 1_000_000)

    def __str__(self) -> str:
        for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
            if self.period >= size and self.period % size == 0:
                return f"{self.limit}/{self.period / size:g}{unit}"
        return f"{self.limit}/{self.period:g}s"


@dataclass(frozen=True)
class Rule:
    """A named rule: every window must allow; `fail_open` says what to do when Redis is unreachable."""

    name: str
    windows: tuple[Window, ...]
    fail_open: bool

    @property
    def limits(self) -> str:
        return ", ".join(str(window) for window in self.windows)

    @property
    def variable(self) -> str:
        """The environment variable that overrides the rule."""
        return env_name(self.name)

    @cached_property
    def script_args(self) -> tuple[bytes, ...]:
        """The rule's part of the rate-limit script's ARGV, encoded once."""
        args = [self.name.encode()]
        for window in self.windows:
            args += [str(window.limit).encode(), str(window.micros).encode()]
        return tuple(args)


def env_name(rule: str) -> str:
    """`chat.message` -> `RATE_LIMIT_CHAT_MESSAGE` (its `_FAIL` twin holds the failure policy)."""
    return ENV_PREFIX + re.sub(r"[^A-Z0-9]", "_", rule.upper())


def parse_limits(text: str, *, where: str) -> tuple[Window, ...]:
    """`"10/10s, 60/1m"` -> two windows; `where` names the setting or variable in errors."""
    if not isinstance(text, str):
        raise ConfigError(f"{where}: {text!r} is not a limit; write limits as text like '10/10s, 60/1m'.")
    windows = []
    for part in text.split(","):
        match = _LIMIT.match(part.strip().lower())
        if not match or match.group(3) not in _UNITS:
            raise ConfigError(
                f"{where}: {part.strip()!r} is not a limit; expected COUNT/PERIOD like 5/10s, 30/1m, 100/h or 1000/1d."
            )
        limit, period = int(match.group(1)), float(match.group(2) or 1) * _UNITS[match.group(3)]
        if not 1 <= limit <= MAX_LIMIT:
            raise ConfigError(f"{where}: {part.strip()!r} must allow between 1 and {MAX_LIMIT} per period.")
        if not 0 < period <= MAX_PERIOD:
            raise ConfigError(f"{where}: {part.strip()!r} needs a period above zero and at most 366 days.")
        windows.append(Window(limit, period))
    if not windows:
        raise ConfigError(f"{where}: no limits given; expected COUNT/PERIOD such as 30/1m.")
    windows.sort(key=lambda window: window.period)
    for shorter, longer in pairwise(windows):
        if shorter.period == longer.period:
            raise ConfigError(f"{where}: two limits share a period; keep the smaller one.")
        if shorter.limit >= longer.limit:
            raise ConfigError(
                f"{where}: '{shorter}' can never be reached under '{longer}'; longer periods need larger limits."
            )
    return tuple(windows)


def parse_fail(value: object, *, where: str) -> bool:
    """True for "open" (allow while Redis is unreachable), False for "closed" (refuse)."""
    text = str(value).strip().lower()
    if text not in ("open", "closed"):
        raise ConfigError(f"{where}={value!r} is not a failure policy; use open or closed.")
    return text == "open"


def parse_rule(name: str, spec: Mapping, *, where: str = "RATE_LIMITS") -> Rule:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigError(f"{where}: rule name {name!r} must be lowercase letters, digits, '.', '_' or '-'.")
    if not isinstance(spec, Mapping) or set(spec) != {"limits", "fail"}:
        raise ConfigError(f'{where}[{name!r}] must be {{"limits": "30/1m", "fail": "open" or "closed"}}.')
    windows = parse_limits(spec["limits"], where=f"{where}[{name!r}]['limits']")
    return Rule(name, windows, parse_fail(spec["fail"], where=f"{where}[{name!r}]['fail']"))


RuleSpec = str | tuple[int, float]  # a name in RATE_LIMITS, or inline (limit, period_seconds)
_cache: dict[object, Rule] = {}


def get_rule(rule: RuleSpec) -> Rule:
    """The Rule for a name in settings.RATE_LIMITS, or an inline `(limit, period_seconds)` (fails closed)."""
    cached = _cache.get(rule)
    if cached is not None:
        return cached
    if isinstance(rule, tuple):
        if len(rule) != 2 or not isinstance(rule[0], int) or not isinstance(rule[1], int | float):
            raise ValueError(f"rule={rule!r}: an inline rule is (limit, period_seconds), e.g. (5, 60).")
        window = Window(rule[0], float(rule[1]))
        if not 1 <= window.limit <= MAX_LIMIT or not 0 < window.period <= MAX_PERIOD:
            raise ValueError(f"rule={rule!r}: the limit must be 1-{MAX_LIMIT}, the period 0-{MAX_PERIOD} seconds.")
        parsed = Rule(str(window), (window,), fail_open=False)
    elif isinstance(rule, str):
        rules = toolkit_setting("RATE_LIMITS")
        if rule not in rules:
            raise ValueError(f"Unknown rate-limit rule {rule!r}; known rules: {', '.join(sorted(rules)) or 'none'}.")
        parsed = parse_rule(rule, rules[rule])
    else:
        raise ValueError(f"rule={rule!r}: give a rule name from RATE_LIMITS or (limit, period_seconds).")
    _cache[rule] = parsed
    return parsed


def known_rules() -> list[Rule]:
    return [get_rule(name) for name in sorted(toolkit_setting("RATE_LIMITS"))]


def _forget_rules(*, setting: str, **kwargs) -> None:
    if setting == "REDIS_TOOLKIT":
        _cache.clear()


setting_changed.connect(_forget_rules)
