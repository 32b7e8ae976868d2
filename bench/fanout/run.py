"""The fan-out benchmark's body: runs inside the bench's own database (see bench/fanout/__init__.py)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import secrets
import shlex
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings

from bench.fanout import HERE, ROOT, node_client

PAGE = os.sysconf("SC_PAGE_SIZE")
TICK = os.sysconf("SC_CLK_TCK")
RATE_ENV = {
    # The benchmark's senders are far above any human rate: the rules stay on (every message is still
    # checked, one round trip), with limits the load never reaches.
    "RATE_LIMIT_CHAT_MESSAGE": "10000/1s",
    "RATE_LIMIT_CHAT_TYPING": "10000/1s",
    "RATE_LIMIT_SOCKETS_CONNECT": "10000/1s",  # the handshake test opens thousands from one address
    "RATE_LIMIT_SOCKETS_CONNECT_IP": "10000/1s",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --------------------------------------------------------------------------- processes
def proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def proc_rss(pid: int) -> int:
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * PAGE


def server_env(args) -> dict[str, str]:
    return {
        **os.environ,
        "DEBUG": "0",
        "SECRET_KEY": settings.SECRET_KEY,
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "0",
        "LOG_LEVEL": "WARNING",
        "CHANNEL_LAYER": args.layer,
        **RATE_ENV,
    }


def server_command(app: str, server: str, port: int) -> list[str]:
    if server == "uvicorn-sansio" and app.startswith("chatsite"):  # what `make run` and production run
        return [sys.executable, "-m", "chatsite.serve", "-b", "127.0.0.1", "-p", str(port), "-v", "0", app]
    if server.startswith("uvicorn"):
        ws = {"uvicorn": "websockets", "uvicorn-sansio": "websockets-sansio"}[server]
        return [
            sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port),
            "--log-level", "warning", "--no-access-log", "--loop", "uvloop", "--http", "httptools",
            "--ws", ws, "--lifespan", "off",
        ]  # fmt: skip
    return [sys.executable, "-m", "daphne", "-v", "0", "-b", "127.0.0.1", "-p", str(port), app]


def wait_port(port: int, proc: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server on {port} exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port} after {timeout}s")


@dataclass
class Side:
    """One side's server processes (and chatsite's stream workers)."""

    kind: str  # "site" or "peer"
    servers: list[subprocess.Popen] = field(default_factory=list)
    ports: list[int] = field(default_factory=list)
    workers: subprocess.Popen | None = None

    @classmethod
    def start(cls, kind: str, args, processes: int) -> Side:
        side = cls(kind)
        env = server_env(args)
        app = "chatsite.asgi:application" if kind == "site" else "bench.tutorial_peer.asgi:application"
        server = args.server if kind == "site" else args.peer_server
        log = open(Path(settings.VAR_DIR) / "bench-fanout-servers.log", "a")  # noqa: SIM115 - the children's stderr
        for _ in range(processes):
            port = free_port()
            cmd = server_command(app, server, port)
            side.servers.append(subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=log))
            side.ports.append(port)
        if kind == "site":
            cmd = [sys.executable, "manage.py", "run_workers"]
            side.workers = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=log)
        for port, proc in zip(side.ports, side.servers, strict=True):
            wait_port(port, proc)
        return side

    def pids(self) -> list[int]:
        return [p.pid for p in self.servers]

    def stop(self) -> None:
        procs = [*self.servers, *([self.workers] if self.workers else [])]
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def sample(self) -> dict:
        out = {"cpu": [proc_cpu(p) for p in self.pids()], "rss": [proc_rss(p) for p in self.pids()]}
        out["workers_cpu"] = proc_cpu(self.workers.pid) if self.workers else 0.0
        return out

    def url(self, i: int, room: str) -> dict:
        port = self.ports[i % len(self.ports)]
        path = f"/ws/rooms/{room}/" if self.kind == "site" else f"/ws/chat/{room.replace('-', '_')}/"
        return {"url": f"ws://127.0.0.1:{port}{path}", "origin": f"http://127.0.0.1:{port}"}


class Generator:
    """The Node load generator, one JSON command and one JSON reply per line."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            node_client(), cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1
        )

    def call(self, cmd: str, **kwargs) -> dict:
        self.proc.stdin.write(json.dumps({"cmd": cmd, **kwargs}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the load generator exited ({self.proc.wait()}) during {cmd}")
        answer = json.loads(line)
        if not answer["ok"]:
            raise RuntimeError(f"load generator: {answer['error']}")
        return answer

    def cpu(self) -> float:
        return proc_cpu(self.proc.pid)

    def close(self) -> None:
        with contextlib.suppress(RuntimeError, OSError):
            self.call("quit")
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()


# --------------------------------------------------------------------------- provisioning
@dataclass
class World:
    rooms: list[str]
    cookies: list[list[str]]  # per room, one signed-in session per member


def provision(args) -> World:
    from django.contrib.auth import get_user_model
    from django.test import Client

    from chat.models import Membership, Room
    from chat.services import room_create

    User = get_user_model()
    rooms, cookies = [], []
    name = settings.SESSION_COOKIE_NAME
    for r in range(args.rooms):
        room = room_create(slug=f"bench-{r}", title=f"Bench {r}")
        users = User.objects.bulk_create([User(username=f"bench-{r}-{m}") for m in range(args.members)])
        users = list(User.objects.filter(username__startswith=f"bench-{r}-"))
        Membership.objects.bulk_create([Membership(room=room, user=u) for u in users])
        row = []
        for user in users:
            client = Client()
            client.force_login(user)
            row.append(f"{name}={client.cookies[name].value}")
        rooms.append(room.slug)
        cookies.append(row)
    assert Room.objects.count() == args.rooms
    return World(rooms, cookies)


# --------------------------------------------------------------------------- one run
def step_passes(step: dict, args) -> bool:
    return step["lost"] == 0 and step["errors"] == 0 and step["p99"] is not None and step["p99"] <= args.p99_ms


def fanout_run(kind: str, args, world: World, run_id: str, start_rate: float) -> dict:
    side = Side.start(kind, args, args.processes)
    gen = Generator()
    try:
        rooms = [
            [{**side.url(m, slug), "cookie": world.cookies[r][m]} for m in range(args.members)]
            for r, slug in enumerate(world.rooms)
        ]
        gen.call("connect", kind=kind, rooms=rooms, senders=args.senders)
        gen.call("step", step=0, rate=start_rate, seconds=max(2.0, args.step_seconds / 2), drain=2, run=run_id)
        steps, failures, rate, k = [], 0, start_rate, 1
        while failures < 2 and k < 40:
            steps.append(measured_step(side, gen, args, k=k, rate=rate, run_id=run_id))
            failures = 0 if step_passes(steps[-1], args) else failures + 1
            print(format_step(kind, steps[-1]), flush=True)
            rate *= args.factor
            k += 1
        passing = [s for s in steps if step_passes(s, args)]
        best = max(passing, key=lambda s: s["delivered_per_s"]) if passing else None
        low = None
        if best:
            # Measured once the overloaded steps' backlog is worked off (the workers' stream included):
            # the latency of a lightly loaded site, not of one still recovering.
            wait_idle([*side.pids(), *([side.workers.pid] if side.workers else [])])
            low = measured_step(side, gen, args, k=k, rate=best["offered"] * 0.2, run_id=run_id)
            print(format_step(kind, low) + "   (20% of sustained)", flush=True)
        return {"kind": kind, "steps": steps, "best": best, "low": low}
    finally:
        gen.close()
        side.stop()


def measured_step(side: Side, gen: Generator, args, *, k: int, rate: float, run_id: str) -> dict:
    before, gen_before, t0 = side.sample(), gen.cpu(), time.monotonic()
    step = gen.call("step", step=k, rate=rate, seconds=args.step_seconds, drain=2.0, run=run_id)
    after, gen_after, elapsed = side.sample(), gen.cpu(), time.monotonic() - t0
    step["server_cpu"] = [(b - a) / elapsed for a, b in zip(before["cpu"], after["cpu"], strict=True)]
    step["workers_cpu"] = (after["workers_cpu"] - before["workers_cpu"]) / elapsed
    step["server_rss_mb"] = [r / 2**20 for r in after["rss"]]
    step["gen_cpu"] = (gen_after - gen_before) / elapsed
    return step


def format_step(kind: str, s: dict) -> str:
    ok = "ok  " if s["lost"] == 0 and s["errors"] == 0 else "LOSS"
    p = lambda v: f"{v:6.1f}" if v is not None else "     -"  # noqa: E731
    cpu = "+".join(f"{c * 100:.0f}" for c in s["server_cpu"])
    return (
        f"{kind:4} step {s['step']:2} offered {s['offered']:7.1f} msg/s  delivered {s['delivered_per_s']:8.0f} frames/s"
        f"  p50 {p(s['p50'])} p90 {p(s['p90'])} p99 {p(s['p99'])} max {p(s['max'])} ms  lost {s['lost']:5} {ok}"
        f" cpu {cpu}% workers {s['workers_cpu'] * 100:.0f}% gen {s['gen_cpu'] * 100:.0f}%"
        f" rss {'/'.join(f'{r:.0f}' for r in s['server_rss_mb'])} MB"
    )


# --------------------------------------------------------------------------- per-process figures
def wait_idle(pids: list[int], *, below: float = 0.05, timeout: float = 20.0) -> None:
    """Wait until the processes use less than `below` of a core (closing sockets has finished)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        before = sum(proc_cpu(p) for p in pids)
        time.sleep(0.5)
        if (sum(proc_cpu(p) for p in pids) - before) / 0.5 < below:
            return


IDLE_WARMUP = 50  # sockets held open before the idle baseline: one-time costs (pools, caches) fall before it


def one_process_figures(kind: str, args, world: World) -> dict:
    """Idle memory per connection, then authenticated handshakes/s, each on a fresh server process."""
    flat = [(slug, c) for slug, row in zip(world.rooms, world.cookies, strict=True) for c in row]
    out: dict = {"kind": kind}

    def targets(side: Side, n: int, skip: int = 0) -> list[dict]:
        return [
            {**side.url(0, flat[i % len(flat)][0]), "cookie": flat[i % len(flat)][1]} for i in range(skip, skip + n)
        ]

    if "idle" not in args.skip:
        # A process of its own: after other sockets closed, their freed memory would be reused by the idle
        # ones and the growth would understate what a socket holds.
        with _one_process(kind, args) as (side, gen):
            gen.call("idle", kind=kind, targets=targets(side, IDLE_WARMUP), concurrency=50)
            wait_idle(side.pids(), below=0.1)
            rss0 = proc_rss(side.pids()[0])
            opened = gen.call("idle", kind=kind, targets=targets(side, args.idle_connections, IDLE_WARMUP),
                              concurrency=50)["open"] - IDLE_WARMUP  # fmt: skip
            wait_idle(side.pids(), below=0.1)
            rss1 = proc_rss(side.pids()[0])
            out["idle"] = {"connections": opened, "warmup": IDLE_WARMUP, "rss0_mb": rss0 / 2**20,
                           "rss1_mb": rss1 / 2**20, "per_conn_kb": (rss1 - rss0) / opened / 1024}  # fmt: skip
            print(f"{kind:4} idle: {out['idle']['per_conn_kb']:.1f} KB per connection at {opened}"
                  f" (fresh process, after {IDLE_WARMUP} held)", flush=True)  # fmt: skip
    if "handshakes" not in args.skip:
        with _one_process(kind, args) as (side, gen):
            gen.call("handshakes", kind=kind, targets=targets(side, 200), concurrency=20)  # warm-up
            wait_idle(side.pids())
            cpu0 = side.sample()["cpu"][0]
            t0 = time.monotonic()
            hs = gen.call("handshakes", kind=kind, targets=targets(side, args.handshakes), concurrency=50)
            hs["server_cpu"] = (side.sample()["cpu"][0] - cpu0) / (time.monotonic() - t0)
            out["handshakes"] = hs
            print(f"{kind:4} handshakes: {hs['per_s']:7.0f}/s  (server cpu {hs['server_cpu'] * 100:.0f}%)", flush=True)
    return out


@contextlib.contextmanager
def _one_process(kind: str, args):
    side = Side.start(kind, args, 1)
    gen = Generator()
    try:
        yield side, gen
    finally:
        gen.close()
        side.stop()


# --------------------------------------------------------------------------- persistence
def persist_figure(args, world: World) -> dict:
    """Messages persisted per second by the consumer's posting call alone, many posters across the rooms."""
    from django.contrib.auth import get_user_model

    from chat.models import Message, Room
    from chat.posting import apost_message  # what RoomConsumer.frame_message_send calls

    User = get_user_model()
    rooms = list(Room.objects.filter(slug__in=world.rooms))
    authors = {room.pk: list(User.objects.filter(username__startswith=f"{room.slug}-")) for room in rooms}
    posters_per_room = args.members
    per_poster = max(1, args.persist_messages // (len(rooms) * posters_per_room))
    before = Message.objects.count()

    async def poster(room, author, n: int) -> None:
        for i in range(n):
            await apost_message(room=room, author=author, body=f"persist {i}", client_id=f"p-{author.pk}-{i}")

    async def main() -> float:
        t0 = time.perf_counter()
        await asyncio.gather(*(poster(r, a, per_poster) for r in rooms for a in authors[r.pk][:posters_per_room]))
        return time.perf_counter() - t0

    elapsed = asyncio.run(main())
    stored = Message.objects.count() - before
    result = {
        "messages": stored,
        "seconds": elapsed,
        "per_s": stored / elapsed,
        "posters": len(rooms) * posters_per_room,
    }
    print(
        f"persisted: {result['per_s']:7.0f} messages/s ({stored} by {result['posters']} concurrent posters)", flush=True
    )
    return result


# --------------------------------------------------------------------------- the whole run
def run(args, argv: list[str]) -> int:
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    load_before = os.getloadavg()
    world = provision(args)
    run_id = secrets.token_hex(4)
    print(f"provisioned {args.rooms} rooms x {args.members} signed-in members; run {run_id}", flush=True)
    kinds = [args.only] if args.only else ["peer", "site"]
    runs: list[dict] = []
    start = {k: args.start_rate for k in kinds}
    if "fanout" not in args.skip:
        for i in range(args.repeats):
            for kind in kinds:
                result = fanout_run(kind, args, world, f"{run_id}{i}", start[kind])
                runs.append(result)
                if result["best"]:  # the next run of this side starts three steps below this one's best
                    start[kind] = max(args.start_rate, result["best"]["offered"] / args.factor**3)
    singles = {}
    if not {"handshakes", "idle"} <= set(args.skip):
        singles = {kind: one_process_figures(kind, args, world) for kind in kinds}
    persisted = persist_figure(args, world) if args.persist_messages and "persist" not in args.skip else None
    summary = summarize(runs, kinds)
    report = {
        "started": started,
        "command": "make bench BENCH_ARGS=" + shlex.quote(" ".join(["fanout", *argv])),
        "commit": commit(),
        "machine": machine(),
        "load": {"before": load_before, "after": os.getloadavg()},
        "args": vars(args),
        "runs": runs,
        "singles": singles,
        "persisted": persisted,
        "summary": summary,
    }
    out = Path(settings.VAR_DIR) / "bench-fanout.json"
    out.write_text(json.dumps(report, indent=1))
    print_summary(report)
    if args.write_doc:
        from bench.fanout.report import write_doc

        write_doc(report)
    return 0


def summarize(runs: list[dict], kinds: list[str]) -> dict:
    out = {}
    for kind in kinds:
        bests = [r["best"]["delivered_per_s"] if r["best"] else 0.0 for r in runs if r["kind"] == kind]
        lows = [r["low"]["p50"] for r in runs if r["kind"] == kind and r["low"]]
        out[kind] = {"sustained": bests, "median": statistics.median(bests) if bests else 0.0,
                     "low_p50": statistics.median(lows) if lows else None}  # fmt: skip
    if "peer" in out and "site" in out and out["peer"]["median"]:
        out["ratio"] = out["site"]["median"] / out["peer"]["median"]
    return out


def print_summary(report: dict) -> None:
    s = report["summary"]
    for kind in ("peer", "site"):
        if kind in s:
            runs = ", ".join(f"{v:,.0f}" for v in s[kind]["sustained"])
            p50 = s[kind]["low_p50"]
            print(f"{kind}: sustained frames/s per run {runs}; median {s[kind]['median']:,.0f};"
                  f" p50 at 20% {p50:.1f} ms" if p50 is not None else "")  # fmt: skip
    if "ratio" in s:
        print(f"site / peer (ratio of medians): {s['ratio']:.2f}x")


def commit() -> str:
    def git(*a: str) -> str:
        return subprocess.run(["git", *a], cwd=ROOT, capture_output=True, text=True).stdout.strip()

    return git("rev-parse", "--short", "HEAD") + (" (with uncommitted changes)" if git("status", "--porcelain") else "")


def machine() -> str:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())  # fmt: skip
    mem = int(Path("/proc/meminfo").read_text().split()[1]) // 2**20
    return f"{os.cpu_count()} x {model}, {mem} GB RAM, Linux {platform.release()}, Python {platform.python_version()}"


__all__ = ["HERE", "run"]
