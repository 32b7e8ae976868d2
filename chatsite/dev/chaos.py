"""`make chaos`: chat load on two server processes while Redis, a server and a worker are knocked over.

Everything runs here with its own Redis (AOF on), SQLite file and key prefix under var/chaos/:
two server processes (`chatsite.serve`: uvicorn), one `run_workers`, and CLIENTS sockets that each
send a message (mentioning the next user, so each one makes a notification) every SEND_EVERY seconds, resending an
unacknowledged one after reconnecting, and resyncing with `sync` like the page does. The faults,
in order: Redis killed and restarted from its AOF, Redis restarted empty, a server process killed
(its clients move to the other one), the worker killed and restarted. Then sending stops, clients
catch up, and the counts are printed; the exit status is 1 unless they are all equal.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VAR = Path(os.environ.get("VAR_DIR", ROOT / "var")) / "chaos"
PYTHON = sys.executable
CLIENTS = 6
SEND_EVERY = 0.25
ROOM = "chaos"
SCHEDULE = [  # (seconds after the load starts, fault)
    (6, "redis-restart-aof"),
    (16, "redis-restart-empty"),
    (26, "kill-server"),
    (36, "kill-worker"),
]
if os.environ.get("CHAOS_ONLY"):  # one fault, for a quicker look: CHAOS_ONLY=redis-restart-aof
    SCHEDULE = [(6, os.environ["CHAOS_ONLY"])]
LOAD_SECONDS = SCHEDULE[-1][0] + 10
SETTLE_SECONDS = 30  # at most, for clients to catch up and workers to finish


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Stack:
    """The processes under test; each fault is a method."""

    def __init__(self) -> None:
        shutil.rmtree(VAR, ignore_errors=True)
        (VAR / "redis").mkdir(parents=True)
        self.redis_port = free_port()
        self.ports = [free_port(), free_port()]
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "chatsite.settings",
            "DEBUG": "1",
            "DATABASE_URL": f"sqlite:///{VAR / 'db.sqlite3'}",
            "REDIS_URL": f"redis://127.0.0.1:{self.redis_port}/0",
            "REDIS_KEY_PREFIX": "chaos:",
            "RATE_LIMIT_CHAT_MESSAGE": "10000/10s",
            "LOG_LEVEL": "WARNING",
            "STREAMS_CLAIM_IDLE_MS": "2000",
            "STREAMS_RETRY_DELAY_MS": "200",
        }
        self.redis: subprocess.Popen | None = None
        self.servers: list[subprocess.Popen | None] = [None, None]
        self.worker: subprocess.Popen | None = None
        self.log = (VAR / "processes.log").open("w")

    def start_redis(self) -> None:
        from chatsite.dev.embedded_redis import start_redis_server

        self.redis = start_redis_server(port=self.redis_port, data_dir=VAR / "redis")

    def start_server(self, index: int) -> None:
        cmd = [PYTHON, "-m", "chatsite.serve", "-v", "0", "-b", "127.0.0.1", "-p", str(self.ports[index])]
        self.servers[index] = subprocess.Popen(
            [*cmd, "chatsite.asgi:application"], cwd=ROOT, env=self.env, stdout=self.log, stderr=self.log
        )

    def start_worker(self) -> None:
        self.worker = subprocess.Popen(
            [PYTHON, "manage.py", "run_workers", "--consumer", "chaos-worker"],
            cwd=ROOT,
            env=self.env,
            stdout=self.log,
            stderr=self.log,
        )

    def wait_listening(self) -> None:
        import socket

        for port in self.ports:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    time.sleep(0.1)

    def fault(self, name: str) -> None:
        if name == "redis-restart-aof":
            self.redis.kill()
            self.redis.wait()
            time.sleep(1)
            self.start_redis()
        elif name == "redis-restart-empty":
            self.redis.kill()
            self.redis.wait()
            shutil.rmtree(VAR / "redis")
            time.sleep(1)
            self.start_redis()
        elif name == "kill-server":
            self.servers[0].kill()
            self.servers[0].wait()
            time.sleep(2)
            self.start_server(0)
        elif name == "kill-worker":
            self.worker.kill()
            self.worker.wait()
            time.sleep(1)
            self.start_worker()

    def stop(self) -> None:
        for proc in [*self.servers, self.worker]:
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in [*self.servers, self.worker]:
            if proc is not None:
                try:
                    proc.wait(timeout=12)
                except subprocess.TimeoutExpired:
                    proc.kill()
        if self.redis is not None:
            self.redis.terminate()
            self.redis.wait()


class ChaosClient:
    """One user's room socket: sends, resends until acknowledged, resyncs after every reconnect."""

    def __init__(self, index: int, username: str, mention: str, cookie: str, ports: list[int]) -> None:
        self.index, self.username, self.mention, self.cookie, self.ports = index, username, mention, cookie, ports
        self.seqs: set[int] = set()
        self.pending: dict[str, str] = {}  # client_id -> body, until its message.new comes back
        self.acked: set[str] = set()
        self.sent = 0
        self.reconnects = 0
        self.ws = None
        self.tasks: set[asyncio.Task] = set()

    def contiguous(self) -> int:
        n = 0
        while n + 1 in self.seqs:
            n += 1
        return n

    async def run(self, stop: asyncio.Event) -> None:
        import websockets

        attempt = self.index
        while not stop.is_set():
            port = self.ports[attempt % 2]
            attempt += 1
            try:
                async with websockets.connect(
                    f"ws://127.0.0.1:{port}/ws/rooms/{ROOM}/",
                    additional_headers={"Cookie": f"sessionid={self.cookie}"},
                    origin=f"http://127.0.0.1:{port}",
                    open_timeout=5,
                    max_queue=None,
                ) as ws:
                    self.ws = ws
                    await ws.send(json.dumps({"type": "sync", "after_seq": self.contiguous()}))
                    for client_id, body in list(self.pending.items()):
                        await ws.send(json.dumps({"type": "message.send", "body": body, "client_id": client_id}))
                    async for raw in ws:
                        self.receive(json.loads(raw))
            except Exception:  # any way a socket ends: reconnect
                pass
            self.ws = None
            if not stop.is_set():
                self.reconnects += 1
                await asyncio.sleep(random.uniform(0.1, 0.5))

    def receive(self, frame: dict) -> None:
        if frame["type"] == "message.new":
            self.seqs.add(frame["message"]["seq"])
            client_id = frame["message"].get("client_id")
            if client_id in self.pending and frame["message"]["author"] == self.username:
                del self.pending[client_id]
                self.acked.add(client_id)
            if frame["message"]["seq"] > self.contiguous() + 1:
                self.ask_sync()
        elif frame["type"] == "sync.done" and frame.get("has_more"):
            self.ask_sync()

    def ask_sync(self) -> None:
        if self.ws is not None:
            task = asyncio.ensure_future(self.ws.send(json.dumps({"type": "sync", "after_seq": self.contiguous()})))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def send_loop(self, stop_sending: asyncio.Event) -> None:
        while not stop_sending.is_set():
            await asyncio.sleep(SEND_EVERY)
            self.sent += 1
            client_id = f"{self.username}-{self.sent}"
            body = f"@{self.mention} message {self.sent} from {self.username}"
            self.pending[client_id] = body
            if self.ws is not None:
                with contextlib.suppress(Exception):  # resent after the reconnect
                    await self.ws.send(json.dumps({"type": "message.send", "body": body, "client_id": client_id}))

    async def resend(self) -> None:
        if self.ws is not None:
            for client_id, body in list(self.pending.items()):
                with contextlib.suppress(Exception):
                    await self.ws.send(json.dumps({"type": "message.send", "body": body, "client_id": client_id}))
                    await self.ws.send(json.dumps({"type": "sync", "after_seq": self.contiguous()}))


def setup_data(stack: Stack) -> list[tuple[str, str]]:
    """Migrate, create the room and users; returns (username, session id) pairs."""
    for name in ("DJANGO_SETTINGS_MODULE", "DEBUG", "DATABASE_URL", "REDIS_URL", "REDIS_KEY_PREFIX"):
        os.environ[name] = stack.env[name]
    subprocess.run([PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=stack.env, check=True)
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.test import Client

    from chat.services import room_create

    room_create(slug=ROOM, title="Chaos")
    users = []
    for i in range(CLIENTS):
        user = get_user_model().objects.create_user(username=f"chaos{i}", password="chaos-pass-123")
        client = Client()
        client.force_login(user)
        users.append((user.username, client.cookies["sessionid"].value))
    return users


async def load(stack: Stack, users: list[tuple[str, str]]) -> list[ChaosClient]:
    clients = [
        ChaosClient(i, name, users[(i + 1) % len(users)][0], cookie, stack.ports)
        for i, (name, cookie) in enumerate(users)
    ]
    stop, stop_sending = asyncio.Event(), asyncio.Event()
    runners = [asyncio.ensure_future(c.run(stop)) for c in clients]
    senders = [asyncio.ensure_future(c.send_loop(stop_sending)) for c in clients]
    started = time.monotonic()
    for at, fault in SCHEDULE:
        await asyncio.sleep(max(0, started + at - time.monotonic()))
        print(f"  t={time.monotonic() - started:5.1f}s  {fault}", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, stack.fault, fault)
    await asyncio.sleep(max(0, started + LOAD_SECONDS - time.monotonic()))
    stop_sending.set()
    await asyncio.gather(*senders)
    print(f"  t={time.monotonic() - started:5.1f}s  sending stopped; waiting for clients to catch up", flush=True)
    deadline = time.monotonic() + SETTLE_SECONDS
    while time.monotonic() < deadline:
        persisted = await asyncio.get_running_loop().run_in_executor(None, _persisted)
        if all(not c.pending and c.seqs == set(range(1, persisted + 1)) for c in clients):
            break
        for c in clients:
            await c.resend()
        await asyncio.sleep(1)
    stop.set()
    for c in clients:
        if c.ws is not None:
            await c.ws.close()
    await asyncio.wait(runners, timeout=5)
    return clients


def _persisted() -> int:
    from django.db import connection

    from chat.models import Message

    try:
        return Message.objects.filter(room__slug=ROOM).count()
    finally:
        connection.close()


def _notifications_made() -> int:
    from notifications.models import Notification

    return Notification.objects.count()


def report(clients: list[ChaosClient]) -> bool:
    from chat.models import Message

    persisted = Message.objects.filter(room__slug=ROOM).count()
    duplicates = persisted - Message.objects.filter(room__slug=ROOM).order_by().values("client_id").distinct().count()
    acked = sum(len(c.acked) for c in clients)
    sent = sum(c.sent for c in clients)
    # Each message mentions another user of the room: one notification each, once the workers catch up.
    deadline = time.monotonic() + SETTLE_SECONDS
    while _notifications_made() < persisted and time.monotonic() < deadline:
        time.sleep(0.5)
    made = _notifications_made()
    print("\nchaos results")
    print(f"  messages sent (distinct client ids): {sent}")
    print(f"  acknowledged to their senders:       {acked}")
    print(f"  persisted (database):                {persisted}  (duplicates: {duplicates})")
    for c in clients:
        complete = c.seqs == set(range(1, persisted + 1))
        print(
            f"  delivered to {c.username}:             {len(c.seqs)}  "
            f"({f'every seq 1..{persisted} once' if complete else 'MISSING some'}; {c.reconnects} reconnects)"
        )
    print(f"  notifications expected / made:       {persisted} / {made}")
    ok = sent == acked == persisted == made and duplicates == 0
    ok = ok and all(c.seqs == set(range(1, persisted + 1)) for c in clients)
    print("  EQUAL" if ok else "  NOT EQUAL")
    return ok


def main() -> int:
    started = time.monotonic()
    stack = Stack()
    try:
        stack.start_redis()
        users = setup_data(stack)
        stack.start_server(0)
        stack.start_server(1)
        stack.start_worker()
        stack.wait_listening()
        print(f"chaos: {CLIENTS} clients on two servers, one message each every {SEND_EVERY}s for {LOAD_SECONDS}s")
        clients = asyncio.run(load(stack, users))
        ok = report(clients)
    finally:
        stack.stop()
    print(f"  run time {time.monotonic() - started:.0f}s (process logs: {VAR / 'processes.log'})")
    return 0 if ok else 1
