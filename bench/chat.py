"""Room message throughput and latency over real WebSockets, chatsite vs the Channels tutorial consumer.

    make bench BENCH_ARGS="chat --members 20 --senders 5 --messages 200 --peer both"

Each of --members users opens a socket to one room; --senders of them send --messages messages each,
all at once. Measured: messages/s until every member received every message, deliveries/s
(messages x members), and send-to-receive latency percentiles. The server runs in its own process.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import websockets
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client

ROOT = Path(__file__).resolve().parent.parent
ROOM = "bench"


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(app: str, server: str, port: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "DEBUG": "0",
        "SECRET_KEY": settings.SECRET_KEY,
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "0",
        "LOG_LEVEL": "WARNING",
        # Measure delivery, not the limiter: senders here are far over any human rate.
        "RATE_LIMIT_CHAT_MESSAGE": "10000/1s",
        "RATE_LIMIT_CHAT_TYPING": "10000/1s",
    }
    if server == "uvicorn":
        cmd = [
            sys.executable,
            "-m",
            "uvicorn",
            app,
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--ws",
            "websockets",
        ]
    else:
        cmd = [sys.executable, "-m", "daphne", "-v", "0", "-p", str(port), app]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env)
    deadline = time.monotonic() + 20
    import socket

    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"{server} did not start on {port}")


def chatsite_cookies(members: int) -> list[str]:
    from chat.models import Room
    from chat.services import room_create

    User = get_user_model()
    names = [f"bench-chat-{i}" for i in range(members)]
    existing = set(User.objects.filter(username__in=names).values_list("username", flat=True))
    User.objects.bulk_create([User(username=n) for n in names if n not in existing])
    if not Room.objects.filter(slug=ROOM).exists():
        room_create(slug=ROOM, title="Bench")
    cookies = []
    for user in User.objects.filter(username__in=names).order_by("username"):
        client = Client()
        client.force_login(user)
        cookies.append(f"sessionid={client.cookies['sessionid'].value}")
    return cookies


class Peer:
    def __init__(self, kind: str, port: int, cookies: list[str] | None):
        self.kind, self.port, self.cookies = kind, port, cookies

    def url(self) -> str:
        path = f"/ws/rooms/{ROOM}/" if self.kind == "chatsite" else f"/ws/chat/{ROOM}/"
        return f"ws://127.0.0.1:{self.port}{path}"

    def connect(self, i: int):
        headers = {"Cookie": self.cookies[i]} if self.cookies else {}
        return websockets.connect(
            self.url(), additional_headers=headers, origin=f"http://127.0.0.1:{self.port}", max_queue=None
        )

    def frame(self, body: str, n: int) -> str:
        if self.kind == "chatsite":
            return json.dumps({"type": "message.send", "body": body, "client_id": f"b{n}-{time.time_ns()}"})
        return json.dumps({"message": body})

    def body_of(self, raw: str) -> str | None:
        frame = json.loads(raw)
        if self.kind == "chatsite":
            return frame["message"]["body"] if frame.get("type") == "message.new" else None
        return frame["message"]


async def run_load(peer: Peer, members: int, senders: int, messages: int) -> dict:
    sockets = [await peer.connect(i) for i in range(members)]
    await asyncio.sleep(0.5)  # presence chatter settles
    for ws in sockets:
        while True:
            try:
                await asyncio.wait_for(ws.recv(), 0.05)
            except TimeoutError:
                break
    expected = senders * messages
    latencies: list[float] = []
    last = [time.perf_counter()]

    async def receive(ws) -> None:
        got = 0
        while got < expected:
            try:  # a layer that drops messages (channel capacity) never delivers them all
                raw = await asyncio.wait_for(ws.recv(), 5)
            except TimeoutError:
                return
            body = peer.body_of(raw)
            if body is not None and body.startswith("t="):
                got += 1
                last[0] = time.perf_counter()
                latencies.append(last[0] - float(body[2:].split(" ", 1)[0]))

    async def send(ws, s: int) -> None:
        for n in range(messages):
            await ws.send(peer.frame(f"t={time.perf_counter()} from {s} #{n}", n))

    started = time.perf_counter()
    receivers = [asyncio.create_task(receive(ws)) for ws in sockets]
    await asyncio.gather(*(send(sockets[s], s) for s in range(senders)))
    await asyncio.gather(*receivers)
    elapsed = last[0] - started
    for ws in sockets:
        await ws.close()
    latencies.sort()
    delivered = len(latencies)
    return {
        "messages_per_s": delivered / members / elapsed,
        "deliveries_per_s": delivered / elapsed,
        "lost_pct": 100 * (1 - delivered / (expected * members)),
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "elapsed_s": elapsed,
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench chat")
    parser.add_argument("--members", type=int, default=20)
    parser.add_argument("--senders", type=int, default=5)
    parser.add_argument("--messages", type=int, default=200, help="per sender")
    parser.add_argument("--peer", choices=["chatsite", "tutorial", "both"], default="both")
    parser.add_argument("--server", choices=["daphne", "uvicorn"], default="daphne")
    args = parser.parse_args(argv)
    if not 1 <= args.senders <= args.members:
        parser.error("--senders must be between 1 and --members")

    peers = ["chatsite", "tutorial"] if args.peer == "both" else [args.peer]
    results = {}
    for kind in peers:
        port = free_port()
        app = "chatsite.asgi:application" if kind == "chatsite" else "bench.tutorial_peer.asgi:application"
        cookies = chatsite_cookies(args.members) if kind == "chatsite" else None
        proc = start_server(app, args.server, port)
        try:
            results[kind] = asyncio.run(run_load(Peer(kind, port, cookies), args.members, args.senders, args.messages))
        finally:
            proc.terminate()
            proc.wait(timeout=10)
        r = results[kind]
        print(
            f"{kind:9} on {args.server}: {r['messages_per_s']:7,.0f} messages/s"
            f" {r['deliveries_per_s']:8,.0f} deliveries/s"
            f"  lost {r['lost_pct']:5.1f}%  latency p50 {r['p50_ms']:7.1f} ms  p99 {r['p99_ms']:7.1f} ms"
        )
    if len(results) == 2:
        ratio = results["chatsite"]["deliveries_per_s"] / results["tutorial"]["deliveries_per_s"]
        print(f"chatsite / tutorial deliveries: {ratio:.2f}x (chatsite also persists every message)")
    return 0
