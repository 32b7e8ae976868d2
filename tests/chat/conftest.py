"""Chat fixtures: rooms, signed-in sockets, frame helpers."""

from __future__ import annotations

import asyncio
import json
import threading

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import connection

from chat.services import room_create
from chatsite.asgi import application
from tests.conftest import session_cookie


class Socket:
    """A room socket driven like a browser tab, with helpers that skip unrelated frames."""

    def __init__(self, communicator: WebsocketCommunicator):
        self.communicator = communicator

    async def send(self, frame: dict | str) -> None:
        await self.communicator.send_to(text_data=frame if isinstance(frame, str) else json.dumps(frame))

    async def expect(self, *types: str, timeout: float = 3) -> dict:
        """The next frame of one of `types`, skipping presence/typing/unread chatter."""
        while True:
            frame = json.loads(await self.communicator.receive_from(timeout=timeout))
            if frame["type"] in types:
                return frame

    async def quiet(self, *types: str, timeout: float = 0.3) -> bool:
        """True when no frame of `types` arrives within `timeout` (the app keeps running)."""
        deadline = asyncio.get_running_loop().time() + timeout
        queue = self.communicator.output_queue
        while asyncio.get_running_loop().time() < deadline:
            if queue.empty():
                await asyncio.sleep(0.01)
                continue
            message = queue.get_nowait()
            if message["type"] == "websocket.send" and json.loads(message["text"])["type"] in types:
                return False
        return True

    async def closed_code(self, timeout: float = 3) -> int | None:
        """The close code the server sends next, skipping the frames before it."""
        while True:
            message = await self.communicator.receive_output(timeout=timeout)
            if message["type"] == "websocket.close":
                return message.get("code")

    async def close(self) -> None:
        await self.communicator.disconnect()


async def open_socket(user, path: str, *, origin: str = "http://localhost") -> tuple[bool, int | None, Socket]:
    headers = [(b"origin", origin.encode())]
    if user is not None:
        cookie = await sync_to_async(session_cookie)(user)
        headers.append((b"cookie", f"sessionid={cookie}".encode()))
    communicator = WebsocketCommunicator(application, path, headers=headers)
    connected, _ = await communicator.connect()
    return connected, None, Socket(communicator)


@pytest.fixture
def alice(make_user):
    return make_user("alice")


@pytest.fixture
def bob(make_user):
    return make_user("bob")


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice)
    return client


@pytest.fixture
def room(db):
    return room_create(slug="lobby", title="Lobby")


@pytest.fixture
def join():
    """`sock = await join(user, room)`: a connected room socket (asserts it stayed open)."""

    async def connect(user, room_or_slug) -> Socket:
        slug = getattr(room_or_slug, "slug", room_or_slug)
        connected, _, socket = await open_socket(user, f"/ws/rooms/{slug}/")
        assert connected
        await socket.expect("presence")
        return socket

    return connect


class LockWait:
    """Whether a connection of this test waits for a lock another one holds.

    PostgreSQL: a backend of this database waits for a lock (pg_stat_activity). SQLite takes its write lock
    at BEGIN IMMEDIATE, so the waiting side starting its transaction (its work run under `noted()`) is the wait.
    """

    def __init__(self) -> None:
        self.began = threading.Event()

    def noted(self):
        return connection.execute_wrapper(self._note_begin)

    def _note_begin(self, execute, sql, params, many, context):
        if sql.startswith("BEGIN"):
            self.began.set()
        return execute(sql, params, many, context)

    def waiting(self) -> bool:
        if connection.vendor != "postgresql":
            return self.began.is_set()
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            return cursor.fetchone()[0] > 0
