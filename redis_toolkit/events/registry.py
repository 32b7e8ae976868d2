"""Which function handles which event type in which consumer group; loading the apps' handlers modules."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import import_module

from django.db import connections
from django.utils.module_loading import autodiscover_modules

from redis_toolkit.conf import toolkit_setting
from redis_toolkit.events.codec import Event, check_name, stream_of

HandlerFunc = Callable[[Event], None]


class InvalidEvent(Exception):
    """Raise from a handler for an event that can never succeed: it goes to the dead letters at once."""


@dataclass(frozen=True)
class Handler:
    event_type: str
    group: str
    stream: str
    func: HandlerFunc
    fields: dict[str, type] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{self.func.__module__}.{self.func.__qualname__}"

    def check(self, event: Event) -> None:
        """Raise InvalidEvent naming the first declared payload field that is missing or of the wrong type."""
        for name, kind in self.fields.items():
            if name not in event.payload:
                raise InvalidEvent(f"payload has no {name!r}")
            value = event.payload[name]
            if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
                raise InvalidEvent(f"payload {name!r} is {type(value).__name__} {value!r}, expected {kind.__name__}")


# Keyed by (group, type, function name): a module imported twice does not register its handlers twice.
_handlers: dict[tuple[str, str, str], Handler] = {}


def event_handler(event_type: str, *, group: str, fields: dict[str, type] | None = None):
    """Decorator: `@event_handler("chat.message.posted", group="notifications", fields={"message_id": int})`."""
    stream = stream_of(event_type, argument="event_type")
    check_name(group, argument="group")
    for name, kind in (fields or {}).items():
        if not isinstance(name, str) or not isinstance(kind, type):
            raise TypeError(f"fields={fields!r} must map payload keys to types, e.g. {{'message_id': int}}")

    def register(func: HandlerFunc) -> HandlerFunc:
        handler = Handler(event_type, group, stream, func, dict(fields or {}))
        _handlers[(group, event_type, handler.name)] = handler
        return func

    return register


def handlers() -> list[Handler]:
    return list(_handlers.values())


def groups() -> list[str]:
    return sorted({h.group for h in _handlers.values()})


def load_handlers() -> None:
    """Import every installed app's `handlers` module, then STREAMS_HANDLER_MODULES."""
    autodiscover_modules("handlers")
    for module in toolkit_setting("STREAMS_HANDLER_MODULES"):
        import_module(module)


def refresh_db_connections() -> None:
    """What Django does between requests, between batches: drop connections that broke or aged out
    (not inside a transaction, which it would close)."""
    for connection in connections.all(initialized_only=True):
        if not connection.in_atomic_block:
            connection.close_if_unusable_or_obsolete()


def default_consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"
