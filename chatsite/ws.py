"""Base for chatsite's WebSocket consumers: sign-in check, JSON frames, error frames, session revocation."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import weakref
from functools import partial
from types import SimpleNamespace
from typing import Any

from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import get_channel_layer
from channels.utils import await_many_dispatch

from chatsite import metrics, socket_db
from chatsite.batching import atogether
from chatsite.client_input import MAX_JSON_DEPTH, depth_ok, storable
from chatsite.errors import Forbidden, NotFound, UserError
from chatsite.ids import in_db_range
from chatsite.realtime import account_group, session_group
from chatsite.sessions import session_expiry, session_key_from_scope, session_sign_in, session_still_valid
from chatsite.socket_queue import SocketQueue, await_any
from redis_toolkit.client import aget_redis
from redis_toolkit.ratelimit.core import PURPOSE, REDIS_DOWN, RateLimitUnavailable, arate_limit, rate_limiting, seconds
from redis_toolkit.ratelimit.http import key_ip

logger = logging.getLogger(__name__)

CLOSE_NOT_SIGNED_IN = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404
CLOSE_TOO_MANY_CONNECTS = 4429  # over the connect rate (per user or per address): come back after retry_after
CLOSE_SERVICE_RESTART = 1012  # graceful shutdown: come back at once (to another process)
CLOSE_TRY_AGAIN_LATER = 1013  # fell too far behind: reconnect and resync
MAX_FRAME_BYTES = 64 * 1024
MAX_FRAME_DEPTH = MAX_JSON_DEPTH  # objects and lists inside each other, as for HTTP bodies
MAX_SEND_BACKLOG = 1024 * 1024  # bytes written to a socket and not yet taken by its client
SEND_STALL_SECONDS = 10.0  # a send still waiting for the client after this long: it stopped reading (uvicorn)
EXPIRY_RECHECK_SECONDS = 60.0  # a session past its stored expiry that still signs in is looked at again after this
SHUTDOWN_GRACE_SECONDS = 5.0  # a frame being handled when the server stops gets this long to finish
ECHO_SECONDS = 0.5  # then the frames it broadcast get this long to come back through Redis


_DETACHED: set[asyncio.Task] = set()
OPEN_SOCKETS: weakref.WeakSet[JsonSocketConsumer] = weakref.WeakSet()  # what a graceful shutdown closes


async def ashut_down_all() -> None:
    """Graceful shutdown: every open socket finishes its frame in hand and is closed with 1012."""
    sockets = [consumer.shut_down() for consumer in list(OPEN_SOCKETS)]
    if sockets:
        await asyncio.wait([asyncio.ensure_future(s) for s in sockets], timeout=SHUTDOWN_GRACE_SECONDS + 1)


def _transport(send):
    """The connection under an ASGI `send`, or None when the server is not one chatsite knows.

    ASGI has no way to reach it, so this looks at the two servers chatsite runs on: daphne's `send` is
    `partial(server.handle_reply, protocol)` (its Twisted transport buffers without bound); uvicorn's
    is a bound method of its protocol (an asyncio transport; uvicorn makes the send wait while it is full).
    """
    owner = send.args[0] if isinstance(send, partial) and send.args else getattr(send, "__self__", None)
    return getattr(owner, "transport", None)


def backlog_probe(send):
    """A function returning the bytes the ASGI server holds for this socket's client, or None."""
    transport = _transport(send)
    if hasattr(transport, "get_write_buffer_size"):
        return transport.get_write_buffer_size
    if hasattr(transport, "dataBuffer"):
        return lambda: len(transport.dataBuffer) - transport.offset + transport._tempDataLen
    return None


def connection_abort(send):
    """A function dropping the connection under `send` at once, buffered data and all, or None."""
    transport = _transport(send)
    return getattr(transport, "abort", None) or getattr(transport, "abortConnection", None)


_watchdog: asyncio.Task | None = None


def _watch_sockets() -> None:
    """One task per process looks at every open socket once a second: a send only notes when it began, a
    session when it expires (a timer per socket was about 0.7 KB of every idle one, uvloop's handle included)."""
    global _watchdog
    loop = asyncio.get_running_loop()
    if _watchdog is None or _watchdog.done() or _watchdog.get_loop() is not loop:
        _watchdog = loop.create_task(_look_at_sockets())


async def _look_at_sockets() -> None:
    while OPEN_SOCKETS:
        await asyncio.sleep(1.0)
        now = time.monotonic()
        stalled = now - SEND_STALL_SECONDS
        for consumer in list(OPEN_SOCKETS):
            if 0 < consumer.sending_since < stalled:
                consumer.cut_stalled()
            if 0 < consumer.expires_at <= now:
                consumer.expiry_due()


CONNECT_RULES = ("sockets.connect", "sockets.connect.ip")  # per user, per address


async def connect_refusal(scope: dict, user_id: int) -> float:
    """Count one socket open against its user's and its address's rules; 0 when both allow, else seconds until
    they would. The rules fail open: with Redis down sockets open. The checks of every socket opening in the same
    turn of the loop go in one round trip (a pipeline)."""
    headers = dict(scope.get("headers", ()))
    address = {"REMOTE_ADDR": (scope.get("client") or ("",))[0], "HTTP_X_FORWARDED_FOR": ""}
    address["HTTP_X_FORWARDED_FOR"] = headers.get(b"x-forwarded-for", b"").decode("latin1")
    checks = [
        rate_limiting(CONNECT_RULES[0], f"user:{user_id}"),
        rate_limiting(CONNECT_RULES[1], key_ip(SimpleNamespace(META=address))),
    ]
    results = await atogether(_adrive_together, checks)
    for result in results:
        if isinstance(result, RateLimitUnavailable):  # an operator made a rule fail closed, and Redis is unreachable
            return result.retry_after
    for result in results:
        if not result.allowed:
            metrics.RATE_LIMIT_REFUSALS.labels(result.rule).inc()
    return max(result.retry_after for result in results)


async def _adrive_together(sockets: list[list]) -> list[list]:
    """Run sockets' one-script rate-limit checks (toolkit steps) in one pipeline; each check gets its own reply,
    and its result (or RateLimitUnavailable) goes back in its socket's list."""
    checks = [steps for socket in sockets for steps in socket]
    results: list = [None] * len(checks)
    pipe, pending = aget_redis(PURPOSE).pipeline(transaction=False), []
    for i, steps in enumerate(checks):
        try:
            script, keys, args = next(steps)
        except StopIteration as done:  # decided without Redis (it failed a moment ago)
            results[i] = done.value
            continue
        except RateLimitUnavailable as exc:
            results[i] = exc
            continue
        script.queue(pipe, keys, args)
        pending.append(i)
    if pending:
        try:
            replies = await pipe.execute(raise_on_error=False)
        except REDIS_DOWN as exc:
            replies = [exc] * len(pending)
        for i, reply in zip(pending, replies, strict=True):
            try:
                checks[i].throw(reply) if isinstance(reply, BaseException) else checks[i].send(reply)
            except StopIteration as done:
                results[i] = done.value
            except RateLimitUnavailable as exc:
                results[i] = exc
    per_socket, start = [], 0
    for socket in sockets:
        per_socket.append(results[start : start + len(socket)])
        start += len(socket)
    return per_socket


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
    if not storable(value):
        raise FrameError("invalid_frame", f"The field “{name}” contains characters that cannot be stored.")
    return value


class JsonSocketConsumer(AsyncWebsocketConsumer):
    """Accepts signed-in users only, dispatches `{"type": "a.b"}` frames to `frame_a_b` methods."""

    # Thousands stay open on a process: slots, not a dict of some thirty attributes each (about 1 KB).
    __slots__ = ("accepted", "backlog", "base_send", "channel_layer", "channel_name", "channel_receive",
                 "closing", "cut", "ended", "expires_at", "inflight", "joined", "scope", "sending_since",
                 "session_key", "stopping", "tasks", "user")  # fmt: skip
    groups = ()  # Channels' groups to join on connect: join() here does it (a class attribute: no list per socket)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.joined: list[str] = []
        self.tasks: set[asyncio.Task] | None = None  # spawn()'s, made with the first
        self.accepted = self.closing = self.stopping = self.ended = False
        self.inflight: asyncio.Future | None = None
        self.backlog = False  # backlog_probe(), looked up at the first send
        self.sending_since = 0.0  # time.monotonic() when the send in progress began; 0: none
        self.cut = False
        self.expires_at = 0.0  # time.monotonic() when the session is due to expire; 0: not watched
        self.user = None  # signed in by connect()
        self.session_key: str | None = None  # the browser session's, read by connect()

    async def __call__(self, scope, receive, send):
        """Run the consumer; whatever way it ends (disconnect, error, cancellation), clean up."""
        try:
            await self.serve(scope, receive, send)
        except asyncio.CancelledError:
            # daphne cancels every consumer on SIGTERM: finish the frame in hand, then say 1012.
            await self.shut_down()
            raise
        finally:
            self.end()

    async def serve(self, scope, receive, send) -> None:
        """AsyncConsumer.__call__, in the server's task alone when both sources are SocketQueues.

        Channels waits on the client and on the layer with a task each (await_many_dispatch), about 2 KB
        per socket with their frames; under chatsite.serve's uvicorn protocol and chatsite's layer one
        future in both queues does. Other servers and layers get Channels' way.
        """
        self.scope = scope
        self.channel_layer = get_channel_layer(self.channel_layer_alias)
        self.channel_name = await self.channel_layer.new_channel()
        self.channel_receive = None
        self.base_send = send
        server = getattr(receive, "__self__", None)
        client = getattr(server, "queue", None)
        socket_queue = getattr(self.channel_layer, "socket_queue", None)  # chatsite.layer's
        events = socket_queue(self.channel_name) if socket_queue is not None else None
        try:
            if not (isinstance(client, SocketQueue) and hasattr(server, "receive_nowait") and events is not None):
                self.channel_receive = partial(self.channel_layer.receive, self.channel_name)
                await await_many_dispatch([receive, self.channel_receive], self.dispatch)
                return
            try:
                while True:
                    if client.items:  # the client first: its disconnect ends the socket at once
                        await self.dispatch(server.receive_nowait())
                    elif events.items:
                        await self.dispatch(self.channel_layer.receive_nowait(self.channel_name))
                    else:
                        await await_any(client, events)
            finally:
                await self.channel_layer.release(self.channel_name)
        except StopConsumer:
            pass

    async def shut_down(self) -> None:
        """Let the frame in hand finish (its reply included), then close with 1012."""
        self.stopping = True  # frames that arrive from now on are dropped: none is half done
        if self.inflight is not None and not self.inflight.done():
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(self.inflight), SHUTDOWN_GRACE_SECONDS)
                await asyncio.sleep(ECHO_SECONDS)  # its broadcast (the sender's acknowledgement) comes back
        if self.accepted and not self.closing:
            with contextlib.suppress(Exception):
                await self.close(code=CLOSE_SERVICE_RESTART)

    def end(self) -> None:
        """Stop every task of this socket; when disconnect() never ran, run its clean-up detached."""
        for task in self.tasks or ():
            task.cancel()
        self.tasks = None
        self.expires_at = 0.0
        if self.accepted:
            self.accepted = False
            OPEN_SOCKETS.discard(self)
            metrics.SOCKETS_OPEN.dec()
        if not self.ended:
            self.ended = True
            with contextlib.suppress(RuntimeError):  # no running loop: nothing to clean in Redis
                task = asyncio.get_running_loop().create_task(self.on_end())
                _DETACHED.add(task)  # held until done: the loop keeps only weak references
                task.add_done_callback(_DETACHED.discard)

    async def on_end(self) -> None:
        """Leave groups (and, in subclasses, presence) when the consumer ended without disconnect()."""
        with contextlib.suppress(Exception):
            await self.disconnect(1006)

    def spawn(self, coro) -> asyncio.Task:
        """A background task that lives exactly as long as this socket."""
        task = asyncio.get_running_loop().create_task(coro)
        if self.tasks is None:
            self.tasks = set()
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    async def dispatch(self, message):
        if message["type"] != "websocket.receive":
            return await self.handle(message)
        if self.stopping:
            return None
        # A client frame runs shielded, so a shutdown lets it finish (its reply included) before 1012.
        self.inflight = asyncio.ensure_future(self.handle(message))
        try:
            return await asyncio.shield(self.inflight)
        finally:
            if self.inflight.done():
                self.inflight = None

    async def handle(self, message) -> None:
        """Call the handler of one event: AsyncConsumer.dispatch without its aclose_old_connections().

        Channels hops into its one shared database thread to close stale connections before every
        event, each room frame of each member included: every delivery queued behind that thread's
        database work (the hops were 7% of a loaded server's py-spy samples). These consumers touch
        the database only inside database_sync_to_async, socket_db and chat.posting's threads, which close stale
        connections around each call themselves (CONN_MAX_AGE, CONN_HEALTH_CHECKS), in the thread that
        holds them.
        """
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def websocket_disconnect(self, message) -> None:
        """Channels' own without its aclose_old_connections(): that hopped into the one shared database thread at
        every disconnect (a burst of them queued behind each other), for connections handle() explains need none."""
        await self.disconnect(message["code"])
        raise StopConsumer()

    async def accept(self, subprotocol=None, headers=None) -> None:
        await super().accept(subprotocol, headers)
        self.accepted = True
        OPEN_SOCKETS.add(self)
        metrics.SOCKETS_OPEN.inc()
        _watch_sockets()

    async def close(self, code=None, reason=None) -> None:
        self.closing = True
        await self._send_bounded(super().close(code, reason))

    async def _send_bounded(self, send) -> None:
        """Run one ASGI send, which the watchdog cuts short when it waits SEND_STALL_SECONDS for the client."""
        self.sending_since = time.monotonic()
        try:
            await send
        except OSError:  # uvicorn's ClientDisconnected: the watchdog dropped the connection under the send
            if not self.cut:
                raise
        finally:
            self.sending_since = 0.0

    def cut_stalled(self) -> None:
        """A send has waited too long for a client that stopped reading: drop its connection.

        uvicorn makes a send wait while the connection's buffer is full, so the socket never gets to read
        its `layer.overflow`, and a close frame would wait behind the same unread data. Dropping the
        connection ends the send (the client sees it reset, reconnects and resyncs).
        """
        if self.cut:
            return
        self.cut = True
        if not self.closing:
            self.count_slow_client()
        self.closing = True
        abort = connection_abort(self.base_send)
        if abort is not None:
            abort()

    async def connect(self) -> None:
        """Sign in from the session and let the subclass authorize, in one database call; then the checks' verdict.

        4401 for anonymous users, 4403 / 4404 for what authorize() refuses, 4429 over the connect rate.
        """
        self.session_key = key = session_key_from_scope(self.scope)
        if key:
            # Logout and "sign out" push to the session's group: joined before the session is read, so a
            # sign-out is either seen by the read or pushed to this socket, never lost in between.
            await self.join(session_group(key))
        try:
            self.user, expires_in, access = await socket_db.arun(self._open_in_db, key, self.scope.get("user"))
            refusal = None
        except (Forbidden, NotFound) as exc:
            self.user, refusal = None, CLOSE_FORBIDDEN if isinstance(exc, Forbidden) else CLOSE_NOT_FOUND
        # A refusal is accepted, so that its close code reaches the browser.
        if refusal is None and self.user is None:
            refusal = CLOSE_NOT_SIGNED_IN
        if refusal is None and (wait := await connect_refusal(self.scope, self.user.pk)):
            await self.accept()
            detail = f"Too many connections; try again in {max(1, seconds(wait))} seconds."
            await self.send_error("rate_limited", detail, retry_after=round(wait, 3))
            await self.close(code=CLOSE_TOO_MANY_CONNECTS)
            return
        if refusal is not None:
            await self.accept()
            await self.close(code=refusal)
            return
        # Password change and deactivation push to the account's group; expiry is noticed by the watchdog
        # at the session's expiry time. Every group is joined before the accept: a client's "open" means
        # the checks are done and nothing pushed from then on can pass the socket by.
        for group in ([account_group(self.user.pk)] if key else []) + self.groups_for(access):
            await self.join(group)
        await self.accept()
        if key:
            self.expire_in(expires_in)
        await self.on_connect(access)

    def _open_in_db(self, session_key: str | None, user) -> tuple[Any, float | None, Any]:
        """On the socket pool: (user or None, seconds until the session expires, what authorize() returned)."""
        expires_in = None
        if user is None:  # no middleware signed the scope in: the browser session decides
            user, expires_in = session_sign_in(session_key)
        elif session_key:
            expires_in = session_expiry(session_key)
        if user is None or not user.is_authenticated:
            return None, None, None
        return user, expires_in, self.authorize(user)

    def authorize(self, user) -> Any:
        """Subclasses check access here, on the socket pool (the ORM works); raise Forbidden or NotFound to refuse.
        The result goes to groups_for() and on_connect()."""

    def groups_for(self, access: Any) -> list[str]:
        """The groups a subclass's socket hears, joined before it opens (from what authorize() returned)."""
        return []

    async def on_connect(self, access: Any) -> None:
        """Subclasses join their groups here with what authorize() returned; close() refuses the socket."""

    async def join(self, group: str) -> None:
        await self.channel_layer.group_add(group, self.channel_name)
        self.joined.append(group)

    async def disconnect(self, code: int) -> None:
        """Leave every group joined through join()."""
        self.ended = True
        for group in self.joined:
            await self.channel_layer.group_discard(group, self.channel_name)
        self.joined.clear()

    async def layer_resync(self, event: dict) -> None:
        """Redis was unreachable: frames may have been lost, a sign-out's too. Subclasses re-read what they show."""
        await self.session_check()

    async def layer_overflow(self, event: dict) -> None:
        """Too many frames waiting for this socket: close it so its client reconnects and resyncs."""
        await self.close_slow_client()

    async def close_slow_client(self) -> None:
        if not self.closing:
            self.count_slow_client()
            await self.close(code=CLOSE_TRY_AGAIN_LATER)

    def count_slow_client(self) -> None:
        metrics.SLOW_CLIENTS_CLOSED.inc()
        logger.warning("closing a socket of user %s that fell behind (1013)", getattr(self.user, "pk", None))

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
        if not depth_ok(frame, MAX_FRAME_DEPTH):
            raise FrameError("invalid_frame", f"A frame may nest objects and lists at most {MAX_FRAME_DEPTH} deep.")
        field(frame, "type", str)
        return frame

    async def send(self, text_data=None, bytes_data=None, close=False) -> None:
        if self.closing:
            return
        await self._send_bounded(super().send(text_data, bytes_data, close))
        metrics.FRAMES_DELIVERED.inc()
        if self.backlog is False:
            self.backlog = backlog_probe(self.base_send)
        if self.backlog is not None and self.backlog() > MAX_SEND_BACKLOG:
            await self.close_slow_client()

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
        if not result.allowed:
            metrics.RATE_LIMIT_REFUSALS.labels(rule).inc()
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
        key = self.session_key
        if key and await socket_db.arun(session_still_valid, key, self.user.pk):
            return True
        await self.close(code=CLOSE_NOT_SIGNED_IN)
        return False

    def expire_in(self, seconds: float | None) -> None:
        """Check the session again when it is due to expire (the watchdog's round after then, within a second)."""
        delay = 0.0 if seconds is None else min(max(seconds, 0.0), 86400) + 0.05  # None: gone already
        self.expires_at = time.monotonic() + delay

    def expiry_due(self) -> None:
        self.expires_at = 0.0
        if self.accepted and not self.closing:
            self.spawn(self.check_expiry())

    async def check_expiry(self) -> None:
        """The session's expiry time came: HTTP use may have moved it later; else the session check decides."""
        try:
            expires_in = await socket_db.arun(session_expiry, self.session_key)
            if expires_in is not None and expires_in > 0:
                self.expire_in(expires_in)
            elif await self.session_check():
                self.expire_in(EXPIRY_RECHECK_SECONDS)  # still signed in (a backend's own rule): look again later
        except Exception:  # a database outage: keep the socket; the next push or reconnect checks again
            logger.warning("session expiry check failed", exc_info=True)

    async def socket_close(self, event: dict) -> None:
        """Access to what this socket serves was taken away (e.g. removed from the room)."""
        await self.close(code=event["code"])
