"""Room fan-out under open-loop load, chatsite (every feature on, PostgreSQL) against the Channels tutorial.

    make bench BENCH_ARGS="fanout"            # about 15 minutes; writes docs/performance.md
    make bench BENCH_ARGS="fanout --quick"    # a few minutes, prints only

Starts --processes server processes of each side sharing Redis (and, for chatsite, a PostgreSQL
database of the benchmark's own plus `manage.py run_workers`), opens --rooms x --members signed-in
sockets (members of a room spread over the processes), then --senders members per room send
`message.send` open-loop at rates stepped by x1.41. Each step reports offered messages/s, delivered
frames/s, latency p50/p90/p99/max (the send time travels in the body), loss, server RSS and CPU.
The figure of a run is the highest delivered frames/s of a step with p99 <= --p99-ms and no loss.
Runs alternate peer, site, peer, site (--repeats), and the result is the ratio of the medians.
Also measured: authenticated handshakes/s and idle memory per connection on one process, p50 at
20% of the sustained rate, and messages persisted/s by the posting path alone.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/postgres"
DB_NAME = f"chatsite_bench_fanout_{os.getpid()}"  # one per run: two runs side by side never share
# uvicorn: uvloop, httptools and its WebSocket implementation: websockets (legacy) or websockets-sansio.
SERVERS = ["uvicorn", "uvicorn-sansio", "daphne"]


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench fanout", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="short steps, one repeat, smaller idle test (a few minutes)")
    p.add_argument("--processes", type=int, default=2, help="server processes per side")
    p.add_argument("--rooms", type=int, default=10)
    p.add_argument("--members", type=int, default=20, help="sockets per room")
    p.add_argument("--senders", type=int, default=2, help="members per room that send")
    p.add_argument("--server", choices=SERVERS, default="uvicorn-sansio", help="ASGI server of chatsite")
    p.add_argument("--peer-server", choices=SERVERS, default="daphne", help="ASGI server of the peer")
    p.add_argument("--layer", choices=["pubsub", "core"], default="pubsub", help="channel layer of both sides")
    p.add_argument("--repeats", type=int, default=2, help="runs of each side, alternating")
    p.add_argument("--only", choices=["peer", "site"], help="run one side only (no ratio)")
    p.add_argument("--start-rate", type=float, help="messages/s of the first step, all rooms (10; --quick 40)")
    p.add_argument("--factor", type=float, default=1.41)
    p.add_argument("--step-seconds", type=float, default=6.0)
    p.add_argument("--p99-ms", type=float, default=50.0)
    p.add_argument("--idle-connections", type=int, default=5000)
    p.add_argument("--handshakes", type=int, default=2000)
    p.add_argument("--persist-messages", type=int, default=6000, help="posts of the persistence test (0 skips)")
    p.add_argument("--skip", action="append", default=[], choices=["fanout", "handshakes", "idle", "persist"])
    p.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_PG_URL", DEFAULT_DB),
        help="a PostgreSQL server's maintenance database; the bench creates and drops its own",
    )
    p.add_argument(
        "--write-doc",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="write docs/performance.md (default: on, off with --quick)",
    )
    args = p.parse_args(argv)
    if args.quick:
        args.repeats = min(args.repeats, 1)
        args.step_seconds = min(args.step_seconds, 3.0)
        args.idle_connections = min(args.idle_connections, 2000)
        args.handshakes = min(args.handshakes, 1000)
        args.persist_messages = min(args.persist_messages, 3000)
    if args.start_rate is None:
        args.start_rate = 40.0 if args.quick else 10.0
    if args.write_doc is None:
        args.write_doc = not args.quick
    if not 1 <= args.senders <= args.members:
        p.error("--senders must be between 1 and --members")
    return args


def main(argv: list[str]) -> int:
    if os.environ.get("BENCH_FANOUT_CHILD"):
        from bench.fanout.run import run

        return run(parse_args(argv), argv)
    parse_args(argv)  # fail early on bad arguments
    return _in_own_database(argv)


def _in_own_database(argv: list[str]) -> int:
    """Create the bench's database and key prefix, re-run this command inside them, then drop both."""
    import psycopg

    base = parse_args(argv).database_url
    admin_url = base.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DB_NAME}"')
    run_id = secrets.token_hex(4)
    prefix = f"chatsite-bench-fanout-{run_id}:"
    env = {
        **os.environ,
        "BENCH_FANOUT_CHILD": "1",
        "DATABASE_URL": base.rsplit("/", 1)[0] + "/" + DB_NAME,
        "REDIS_KEY_PREFIX": prefix,
        "BENCH_TUTORIAL_PREFIX": f"chatsite-bench-tutorial-{run_id}",
    }
    try:
        return subprocess.call([sys.executable, "-m", "bench", "fanout", *argv], cwd=ROOT, env=env)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        _delete_keys(prefix, env["BENCH_TUTORIAL_PREFIX"])


def _delete_keys(*prefixes: str) -> None:
    import redis

    client = redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    for pattern in (f"{prefix}*" for prefix in prefixes):
        batch = []
        for key in client.scan_iter(match=pattern, count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                client.unlink(*batch)
                batch.clear()
        if batch:
            client.unlink(*batch)


def node_client() -> list[str]:
    """The Node load generator's command line (installed by the Makefile's bench target)."""
    if not (HERE / "node_modules" / "ws").is_dir():
        subprocess.run(["npm", "ci", "--prefix", str(HERE), "--no-audit", "--no-fund"], check=True)
    return ["node", str(HERE / "client.mjs")]


__all__ = ["json", "main", "node_client"]
