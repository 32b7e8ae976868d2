"""Base for chatsite's WebSocket consumers: sign-in check, JSON frames, error frames, session revocation."""

from __future__ import annotations

import json
import logging
from typing import Any

from channels.generic.websocket import AsyncWebsocketConsumer

from chatsite.errors import UserError
from chatsite.realtime import session_group
from redis_toolkit.ratelimit.core import RateLimitUnavailable, arate_limit, seconds

logger = logging.getLogger(__name__)

CLOSE_NOT_SIGNED_IN = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404
MAX_FRAME_BYTES = 64 * 1024


class FrameError(UserError):
    """Bad input in a client frame: becomes an `error {code, detail}` frame; the socket stays open."""

    def __init__(self, code: str, detail: str, **extra: Any):
        super().__init__(detail, code=code, **extra)


def field(frame: dict, name: str, kind: type | tuple[type, ...], *, required: bool = True) -> Any:
    """Read one field of a frame, or raise FrameError naming it and the type it must have."""
    if name not in frame:
        if required:
            raise FrameError("invalid_frame", f"The field “{name}” is missing.")
        return None
    value = frame[name]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
        names = " or ".join(k.__name__.replace("str", "string").replace("int", "integer") for k in kinds)
        raise FrameError("invalid_frame", f"The field “{name}” must be a {names}.")
    return value


class JsonSocketConsumer(AsyncWebsocketConsumer):
    """Accepts signed-in users only, dispatches `{"type": "a.b"}` frames to `frame_a_b` methods."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.joined: list[str] = []

    async def connect(self) -> None:
        """Close with 4401 for anonymous users, then let the subclass authorize."""
        self.user = self.scope.get("user")
        await self.accept()
        if self.user is None or not self.user.is_authenticated:
            await self.close(code=CLOSE_NOT_SIGNED_IN)
            return
        session = self.scope.get("session")
        if session is not None and session.session_key:
            await self.join(session_group(session.session_key))
        await self.on_connect()

    async def on_connect(self) -> None:
        """Subclasses authorize and join their groups here; close() refuses the socket."""

    async def join(self, group: str) -> None:
        await self.channel_layer.group_add(group, self.channel_name)
        self.joined.append(group)

    async def disconnect(self, code: int) -> None:
        """Leave every group joined through join()."""
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

    def decode(self, text_data: str | None, bytes_data: bytes | None) -> dict:
        if text_data is None:
            raise FrameError("invalid_frame", "Frames must be JSON text, not binary.")
        if len(text_data) > MAX_FRAME_BYTES // 4 and len(text_data.encode()) > MAX_FRAME_BYTES:
            raise FrameError("frame_too_large", f"Frames may be at most {MAX_FRAME_BYTES // 1024} KiB.")
        try:
            frame = json.loads(text_data)
        except ValueError:
            raise FrameError("invalid_json", "The frame is not valid JSON.") from None
        if not isinstance(frame, dict):
            raise FrameError("invalid_frame", "A frame must be a JSON object with a “type”.")
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
