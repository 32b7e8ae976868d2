"""`python -m chatsite.dev run|test`: what `make run` and `make test` do after installing."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from chatsite.dev.embedded_redis import ensure_redis
from chatsite.env import ConfigError, env_dir, env_host, env_port

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable


def manage(*args: str) -> None:
    subprocess.run([PYTHON, "manage.py", *args], cwd=ROOT, check=True)


def stop(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    deadline = time.monotonic() + 10
    for proc in procs:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()


def run() -> int:
    # Read here, not in settings.py: these start the processes that then load the settings.
    host, port, var = env_host("HOST", "127.0.0.1"), str(env_port("PORT", 8000)), env_dir("VAR_DIR", str(ROOT / "var"))
    var.mkdir(parents=True, exist_ok=True)
    redis_proc = ensure_redis(var)
    children: list[subprocess.Popen] = []
    try:
        manage("migrate", "--noinput", "-v", "0")
        manage("seed_demo")
        server = [PYTHON, "-m", "chatsite.serve", "-b", host, "-p", port, "chatsite.asgi:application"]
        children.append(subprocess.Popen(server, cwd=ROOT))
        children.append(subprocess.Popen([PYTHON, "manage.py", "run_workers"], cwd=ROOT))
        print(f"\nchatsite is running at http://{host}:{port}/  (Ctrl-C stops everything)\n", flush=True)
        signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt))
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
        return next(child.returncode for child in children if child.poll() is not None) or 1
    except KeyboardInterrupt:
        return 0
    except subprocess.CalledProcessError as exc:
        return exc.returncode
    finally:
        stop(children + ([redis_proc] if redis_proc else []))


def test(pytest_args: list[str]) -> int:
    var = env_dir("VAR_DIR", str(ROOT / "var"))
    var.mkdir(parents=True, exist_ok=True)
    redis_proc = ensure_redis(var)
    try:
        return subprocess.call([PYTHON, "-m", "pytest", *pytest_args], cwd=ROOT)
    finally:
        if redis_proc:
            stop([redis_proc])


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in {"run", "test", "chaos"}:
        print("usage: python -m chatsite.dev run | test [pytest args] | chaos", file=sys.stderr)
        return 2
    try:
        if sys.argv[1] == "chaos":
            from chatsite.dev.chaos import main as chaos

            return chaos()
        return run() if sys.argv[1] == "run" else test(sys.argv[2:])
    except ConfigError as exc:
        print(f"chatsite: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
