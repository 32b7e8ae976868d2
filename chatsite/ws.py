"""Base for chatsite's WebSocket consumers: sign-in check, JSON frames, error frames, session revocation."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from chatsite.errors import UserError
from chatsite.ids import in_db_range
from chatsite.realtime import account_group, session_group
from chatsite.sessions import session_expiry, session_still_valid
from redis_toolkit.ratelimit.core import RateLimitUnavailable, arate_limit, seconds

logger = logging.getLogger(__name__)

CLOSE_NOT_SIGNED_IN = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404
MAX_FRAME_BYTES = 64 * 1024
MAX_FRAME_DEPTH = 32  # objects and lists inside each other; real frames need 3


class FrameError(UserError):
    """Bad input in a client frame: becomes an `error {code, detail}` frame; the socket stays open."""

    def __init__(self, code: str, detail: str, **extra: Any):
        super().__init__(detail, code=code, **extra)


def field(frame: dict, name: str, kind: type | tuple[type, ...], *, required: bool = True) -> Any:
    """Read one field of a frame, or raise FrameError naming it and the type it must have.

    Every frame's input passes here, so here it is made safe for the database: whole numbers outside
    its 64-bit range are "not found" (no row can have them), and text it cannot store (NUL, lone
    surrogates) is refused on SQLite as on PostgreSQL.
    """
    if name not in frame:
        if required:
            raise FrameError("invalid_frame", f"The field “{name}” is missing.")
        return None
    value = frame[name]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
        names = " or ".join(k.__name__.replace("str", "string").replace("int", "integer") for k in kinds)
        raise FrameError("invalid_frame", f"The field “{name}” must be a {names}.")
    if isinstance(value, int) and not isinstance(value, bool) and not in_db_range(value):
        raise FrameError("not_found", f"Nothing has the {name} {str(value)[:30]}.")
    if not _storable(value):
        raise FrameError("invalid_frame", f"The field “{name}” contains characters that cannot be stored.")
    return value


def _storable(value: Any) -> bool:
    """No NUL and no lone surrogate in any text inside `value` (PostgreSQL refuses both)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item or (not item.isascii() and not _encodes(item)):
                return False
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return True


def _encodes(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _depth_ok(value: Any) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_FRAME_DEPTH:
            return False
        if isinstance(item, dict):
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
    return True


class JsonSocketConsumer(AsyncWebsocketConsumer):
    """Accepts signed-in users only, dispatches `{"type": "a.b"}` frames to `frame_a_b` methods."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.joined: list[str] = []
        self.session_watch: asyncio.Task | None = None

    async def connect(self) -> None:
        """Close with 4401 for anonymous users, then let the subclass authorize."""
        self.user = self.scope.get("user")
        await self.accept()
        if self.user is None or not self.user.is_authenticated:
            await self.close(code=CLOSE_NOT_SIGNED_IN)
            return
        session = self.scope.get("session")
        if session is not None and session.session_key:
            # Logout and "sign out" push to the session's group, password change and deactivation to
            # the account's; expiry is noticed by a timer set to the session's expiry time.
            await self.join(session_group(session.session_key))
            await self.join(account_group(self.user.pk))
            self.session_watch = asyncio.create_task(self.watch_session_expiry(session.session_key))
        await self.on_connect()

    async def on_connect(self) -> None:
        """Subclasses authorize and join their groups here; close() refuses the socket."""

    async def join(self, group: str) -> None:
        await self.channel_layer.group_add(group, self.channel_name)
        self.joined.append(group)

    async def disconnect(self, code: int) -> None:
        """Leave every group joined through join()."""
        if self.session_watch is not None:
            self.session_watch.cancel()
        for group in self.joined:
            await self.channel_layer.group_discard(group, self.channel_name)
        self.joined.clear()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """Decode one client frame and call its handler; bad input gets an error frame."""
        try:
            frame = self.decode(text_data, bytes_data)
            handler = getattr(self, "frame_" + frame["type"].replace(".", "_"), None)
            if handler is None:
                raise FrameError("unknown_type", f"Unknown frame type “{frame['type'][:50]}”.")
            await handler(frame)
        except UserError as exc:  # FrameError from decoding, or a service refusing the action
            await self.send_error(exc.code, exc.detail, **exc.extra)
        except Exception:
            # No client frame may end the socket: a bug (or a database refusal nobody foresaw) is
            # logged once with its traceback and answered like any refused frame.
            logger.exception("%s: frame handler failed", type(self).__name__)
            await self.send_error("internal_error", "Something went wrong on our side; the frame was not applied.")

    def decode(self, text_data: str | None, bytes_data: bytes | None) -> dict:
        if text_data is None:
            raise FrameError("invalid_frame", "Frames must be JSON text, not binary.")
        if len(text_data) > MAX_FRAME_BYTES // 4 and len(text_data.encode()) > MAX_FRAME_BYTES:
            raise FrameError("frame_too_large", f"Frames may be at most {MAX_FRAME_BYTES // 1024} KiB.")
        try:
            frame = json.loads(text_data)
        except (ValueError, RecursionError):  # RecursionError: nested too deep for the parser
            raise FrameError("invalid_json", "The frame is not valid JSON.") from None
        if not isinstance(frame, dict):
            raise FrameError("invalid_frame", "A frame must be a JSON object with a “type”.")
        if not _depth_ok(frame):
            raise FrameError("invalid_frame", f"A frame may nest objects and lists at most {MAX_FRAME_DEPTH} deep.")
        field(frame, "type", str)
        return frame

    async def send_json(self, payload: dict) -> None:
        await self.send(text_data=json.dumps(payload, separators=(",", ":")))

    async def send_error(self, code: str, detail: str, **extra: Any) -> None:
        await self.send_json({"type": "error", "code": code, "detail": detail, **extra})

    async def check_rate(self, rule: str, key: str, *, quiet: bool = False) -> bool:
        """Count one action against `rule` for `key` (one Redis round trip); False when refused.

        A refusal sends `error {code: "rate_limited", detail, retry_after}` (seconds) unless `quiet`
        (for frames nobody waits on, such as typing); the caller then drops the frame.
        """
        try:
            result = await arate_limit(rule, key)
        except RateLimitUnavailable as exc:
            if not quiet:
                detail = "Sending is paused for a moment; try again shortly."
                await self.send_error("unavailable", detail, retry_after=exc.retry_after)
            return False
        if not result.allowed and not quiet:
            wait = max(1, seconds(result.retry_after))
            detail = f"You are sending too fast; you can send again in {wait} second{'s' if wait != 1 else ''}."
            await self.send_error("rate_limited", detail, retry_after=round(result.retry_after, 3))
        return result.allowed

    async def session_revoked(self, event: dict) -> None:
        """The browser's session was signed out elsewhere: close as if never signed in."""
        await self.close(code=CLOSE_NOT_SIGNED_IN)

    async def session_check(self, event: dict | None = None) -> bool:
        """The user changed (password, deactivation): close with 4401 unless this socket's session still holds."""
        session = self.scope.get("session")
        key = session.session_key if session is not None else None
        if key and await database_sync_to_async(session_still_valid)(key, self.user.pk):
            return True
        await self.close(code=CLOSE_NOT_SIGNED_IN)
        return False

    async def watch_session_expiry(self, session_key: str) -> None:
        """Sleep until the session's expiry time, then check it (HTTP use may have pushed it later)."""
        try:
            while True:
                expires_in = await database_sync_to_async(session_expiry)(session_key)  # None: gone already
                if expires_in is not None and expires_in > 0:
                    await asyncio.sleep(min(expires_in, 86400) + 0.05)
                if not await self.session_check():
                    return
        except asyncio.CancelledError:
            raise
        except Exception:  # a database outage: keep the socket; the next push or reconnect checks again
            logger.warning("session expiry check failed", exc_info=True)

    async def socket_close(self, event: dict) -> None:
        """Access to what this socket serves was taken away (e.g. removed from the room)."""
        await self.close(code=event["code"])
