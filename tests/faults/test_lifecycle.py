"""How sockets end: killed servers leave no ghosts, SIGTERM says 1012, a client that never reads gets 1013."""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import socket
import struct
import subprocess
import sys
import time
import urllib.request

import pytest
from asgiref.sync import sync_to_async

from chat import presence
from chat.models import Message
from chat.services import room_create
from chatsite.ws import SEND_STALL_SECONDS
from tests.chat.conftest import open_socket
from tests.conftest import ROOT, cookie_header, free_port, test_database_url, wait_for_port, wait_until
from tests.faults.conftest import Client

pytestmark = pytest.mark.slow


def online(frame: dict) -> set[str]:
    return {user["username"] for user in frame["online"]}


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_consumer_that_ends_without_disconnect_stops_its_heartbeat_and_leaves_presence(redis_client, make_user):
    alice, bob = await sync_to_async(make_user)("alice"), await sync_to_async(make_user)("bob")
    await sync_to_async(room_create)(slug="lobby", title="Lobby")
    _, _, bob_socket = await open_socket(bob, "/ws/rooms/lobby/")
    await bob_socket.expect("presence")
    _, _, alice_socket = await open_socket(alice, "/ws/rooms/lobby/")
    frame = await bob_socket.expect("presence")
    assert online(frame) == {"alice", "bob"}

    # The server cancels the consumer (as daphne does to a stuck instance): disconnect() never runs.
    alice_socket.communicator.future.cancel()
    frame = await bob_socket.expect("presence", timeout=5)
    assert online(frame) == {"bob"}
    await asyncio.sleep(0)
    kept = [who["username"] for keeper in presence._keepers.values() for who in keeper.sockets.values()]
    assert kept == ["bob"]  # the process's heartbeats refresh bob's socket only
    await bob_socket.close()


@pytest.mark.django_db(transaction=True)
def test_a_user_whose_server_was_killed_leaves_the_presence_list_seen_from_another_server(
    asgi_server, spare_redis, make_user
):
    alice, bob = make_user("alice"), make_user("bob")
    room_create(slug="lobby", title="Lobby")
    env = {"REDIS_URL": spare_redis.url, "PRESENCE_TTL_SECONDS": "3"}
    doomed, survivor = asgi_server(**env), asgi_server(**env)
    bob_ws = Client(survivor, "/ws/rooms/lobby/", cookie_header(bob))
    bob_ws.expect_type("presence")
    Client(doomed, "/ws/rooms/lobby/", cookie_header(alice)).expect_type("presence")
    bob_ws.expect(lambda f: f["type"] == "presence" and online(f) == {"alice", "bob"})

    doomed.proc.kill()  # no disconnect, no leave: only the expiry can tell
    killed = time.monotonic()
    bob_ws.expect(lambda f: f["type"] == "presence" and online(f) == {"bob"}, timeout=15)
    # TTL plus one heartbeat of the survivor; the default (30 s, 10 s) stays under a minute.
    assert time.monotonic() - killed < 3 + 1 + 2
    assert presence.TTL_SECONDS + presence.HEARTBEAT_SECONDS < 60


class Uvicorn:
    def __init__(self, env: dict[str, str]) -> None:
        self.port = free_port()
        self.url, self.ws_url = f"http://127.0.0.1:{self.port}", f"ws://127.0.0.1:{self.port}"
        cmd = [sys.executable, "-m", "uvicorn", "chatsite.asgi:application", "--port", str(self.port)]
        cmd += ["--ws", "websockets", "--log-level", "warning", "--lifespan", "off"]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env)
        wait_for_port(self.port, self.proc)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("server_kind", ["daphne", "uvicorn"])
def test_sigterm_closes_every_socket_with_1012_after_finishing_frames_in_flight(
    server_kind, asgi_server, spare_redis, make_user
):
    alice, bob = make_user("alice"), make_user("bob")
    room = room_create(slug="lobby", title="Lobby")
    if server_kind == "daphne":
        server = asgi_server(REDIS_URL=spare_redis.url)
    else:
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "DATABASE_URL": test_database_url()}
        server = Uvicorn({**env, "REDIS_URL": spare_redis.url, "LOG_LEVEL": "WARNING"})
    try:
        sockets = [Client(server, "/ws/rooms/lobby/", cookie_header(user)) for user in (alice, bob)]
        for ws in sockets:
            ws.expect_type("presence")
        sockets[0].send({"type": "message.send", "body": "sent as the server stops", "client_id": "last"})
        server.proc.send_signal(signal.SIGTERM)
        stopping = time.monotonic()
        codes = []
        for ws in sockets:
            with pytest.raises(Exception) as closed:
                ws.expect(lambda f: False, timeout=12)
            codes.append(getattr(closed.value, "rcvd", None) and closed.value.rcvd.code)
        server.proc.wait(timeout=12)
        assert time.monotonic() - stopping < 10
        assert codes == [1012, 1012]
        # A frame the server had started on was finished: stored and acknowledged, or neither.
        stored = Message.objects.filter(room=room, client_id="last").exists()
        acked = any(f["type"] == "message.new" and f["message"]["client_id"] == "last" for f in sockets[0].frames)
        assert stored == acked
    finally:
        if server.proc.poll() is None:
            server.proc.kill()
            server.proc.wait()


def _raw_websocket(port: int, path: str, cookie: str) -> socket.socket:
    """A WebSocket that completes the handshake and then never reads (a tiny receive buffer)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nOrigin: http://127.0.0.1:{port}\r\n"
            f"Cookie: {cookie}\r\n\r\n"
        ).encode()
    )
    response = b""
    while b"\r\n\r\n" not in response:
        response += sock.recv(1)
    assert b" 101 " in response.split(b"\r\n")[0]
    return sock


def _close_code(sock: socket.socket) -> int | None:
    """Read the frames the server sent, up to its close frame; that frame's code (None: no close frame)."""
    sock.settimeout(10)
    data, offset = b"", 0
    while True:
        while offset + 2 <= len(data):
            opcode, length, start = data[offset] & 0x0F, data[offset + 1] & 0x7F, offset + 2
            if length == 126:
                (length,), start = struct.unpack("!H", data[start : start + 2]), start + 2
            elif length == 127:
                (length,), start = struct.unpack("!Q", data[start : start + 8]), start + 8
            if start + length > len(data):
                break
            if opcode == 0x8:
                return struct.unpack("!H", data[start : start + 2])[0]
            offset = start + length
        chunk = sock.recv(1 << 16)
        if not chunk:
            return None
        data += chunk


def _slow_clients_closed(server) -> str:
    metrics = urllib.request.urlopen(f"{server.url}/metrics", timeout=10).read().decode()
    return "\n".join(m for m in metrics.splitlines() if m.startswith("chatsite_slow_clients_closed_total"))


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("kind", ["daphne", "uvicorn"])
def test_a_client_that_never_reads_is_closed_with_1013_and_others_get_every_message(
    kind, asgi_server, spare_redis, make_user
):
    alice, bob, mallory = make_user("alice"), make_user("bob"), make_user("mallory")
    room_create(slug="lobby", title="Lobby")
    # uvicorn's keepalive would end the socket too (1011, after 20 s + 20 s): off, so the bound is ours.
    server = asgi_server(kind, REDIS_URL=spare_redis.url, UVICORN_WS_PING_INTERVAL="0")
    stuck = _raw_websocket(server.port, "/ws/rooms/lobby/", cookie_header(mallory))
    alice_ws = Client(server, "/ws/rooms/lobby/", cookie_header(alice))
    bob_ws = Client(server, "/ws/rooms/lobby/", cookie_header(bob))
    bob_ws.expect_type("presence")

    # 7 MB for each member: more than the kernel buffers (up to 4 MB here) plus the 1 MiB bound.
    body, count = "é" * 4000, 300  # 24 KB per frame: JSON escapes it as \u00e9
    for i in range(count):
        alice_ws.send({"type": "message.send", "body": body, "client_id": f"m{i}"})
    bob_ws.expect(lambda f: f["type"] == "message.new" and f["message"]["seq"] == count, timeout=45)
    assert bob_ws.messages() == list(range(1, count + 1))
    # Within a bounded time (daphne: 1 MiB unsent; uvicorn, whose send waits for the client: a send
    # stalled SEND_STALL_SECONDS), and before the client reads anything, which would unblock it.
    wait_until(
        lambda: "chatsite_slow_clients_closed_total 1.0" in _slow_clients_closed(server),
        timeout=SEND_STALL_SECONDS + 15,
        why=lambda: _slow_clients_closed(server),
    )
    # The server closed it with 1013 and then dropped the connection (the client never reads the
    # close frame, so the server aborts rather than keep its buffers), or (uvicorn, whose close frame
    # would wait behind the unread data) dropped it at once: either way the socket is gone.
    try:
        code = _close_code(stuck)
    except ConnectionResetError:
        code = "reset"
    assert code in (1013, "reset", None)
