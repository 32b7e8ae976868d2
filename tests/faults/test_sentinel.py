"""Redis Sentinel: the master is killed mid-chat; chat, notifications and workers go on within 15 s."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
import redis

from chat.models import Message
from chat.services import room_create
from chatsite.dev.embedded_redis import answers, redis_server_binary
from notifications.models import Notification
from tests.conftest import cookie_header, free_port, wait_until
from tests.faults.conftest import Client

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

MASTER = "chatsite-test"


class SentinelCluster:
    """A master, a replica and three sentinels from the redis-server binary, on ports of their own."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.binary = redis_server_binary()
        self.procs: dict[str, subprocess.Popen] = {}
        self.master_port, self.replica_port = free_port(), free_port()
        self.sentinel_ports = [free_port() for _ in range(3)]

    def _server(self, name: str, port: int, *extra: str) -> None:
        args = [self.binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        args += ["--dir", str(self.tmp), "--dbfilename", f"{name}.rdb", *extra]
        self.procs[name] = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        wait_until(lambda: answers(f"redis://127.0.0.1:{port}/0"), timeout=10)

    def start(self) -> None:
        self._server("master", self.master_port)
        self._server("replica", self.replica_port, "--replicaof", "127.0.0.1", str(self.master_port))
        for i, port in enumerate(self.sentinel_ports):
            conf = self.tmp / f"sentinel-{i}.conf"
            conf.write_text(
                f"port {port}\nbind 127.0.0.1\ndir {self.tmp}\n"
                f"sentinel monitor {MASTER} 127.0.0.1 {self.master_port} 2\n"
                f"sentinel down-after-milliseconds {MASTER} 1000\n"
                f"sentinel failover-timeout {MASTER} 5000\n"
                f"sentinel parallel-syncs {MASTER} 1\n"
            )
            proc = subprocess.Popen(
                [self.binary, str(conf), "--sentinel"], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
            )
            self.procs[f"sentinel-{i}"] = proc
        for port in self.sentinel_ports:
            wait_until(lambda port=port: self._sentinels_know_replica(port), timeout=20)

    def _sentinels_know_replica(self, port: int) -> bool:
        try:
            return bool(redis.Redis(port=port, socket_timeout=1).sentinel_slaves(MASTER))
        except redis.RedisError:
            return False

    def master_address(self) -> tuple[str, int]:
        host, port = redis.Redis(port=self.sentinel_ports[0], socket_timeout=1).sentinel_get_master_addr_by_name(MASTER)
        return host, int(port)

    @property
    def env(self) -> dict[str, str]:
        return {
            "REDIS_SENTINELS": ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports),
            "REDIS_SENTINEL_MASTER": MASTER,
            "REDIS_URL": "redis://127.0.0.1:1/0",  # nothing there: every use must go through the Sentinels
        }

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()


@pytest.fixture
def sentinel_cluster(tmp_path):
    cluster = SentinelCluster(tmp_path)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


def test_chat_notifications_and_workers_go_on_after_the_master_is_killed(
    sentinel_cluster, asgi_server, worker_process, make_user
):
    alice, bob = make_user("alice"), make_user("bob")
    room = room_create(slug="lobby", title="Lobby")
    env = sentinel_cluster.env
    server = asgi_server(**env)
    worker_process(**env)
    alice_ws = Client(server, "/ws/rooms/lobby/", cookie_header(alice))
    bob_ws = Client(server, "/ws/rooms/lobby/", cookie_header(bob))
    bob_bell = Client(server, "/ws/notifications/", cookie_header(bob))
    bob_ws.expect(lambda f: f["type"] == "presence" and len(f["online"]) == 2)

    alice_ws.send({"type": "message.send", "body": "@bob before the failover", "client_id": "m1"})
    bob_ws.expect(lambda f: f["type"] == "message.new" and f["message"]["seq"] == 1)
    bob_bell.expect_type("notification.new", timeout=15)

    assert sentinel_cluster.master_address()[1] == sentinel_cluster.master_port
    sentinel_cluster.procs["master"].kill()
    killed = time.monotonic()
    for i in range(2, 6):  # sent during the failover: stored, acknowledged, delivered once
        alice_ws.send({"type": "message.send", "body": f"@bob during the failover {i}", "client_id": f"m{i}"})
        alice_ws.expect(lambda f, i=i: f["type"] == "message.new" and f["message"]["client_id"] == f"m{i}")
    wait_until(lambda: sentinel_cluster.master_address()[1] == sentinel_cluster.replica_port, timeout=15)
    alice_ws.send({"type": "message.send", "body": "@bob after the failover", "client_id": "m6"})
    bob_ws.expect(lambda f: f["type"] == "message.new" and f["message"]["seq"] == 6, timeout=15)
    recovered = time.monotonic() - killed
    print(f"sentinel failover: chat delivered again {recovered:.1f}s after the master was killed")
    assert recovered < 15

    # Every message once and in order; every mention became one notification, pushed live.
    bob_ws.drain(1.0)
    assert sorted(set(bob_ws.messages())) == [1, 2, 3, 4, 5, 6]
    assert len(bob_ws.messages()) == 6
    assert Message.objects.filter(room=room).count() == 6
    wait_until(lambda: Notification.objects.filter(recipient=bob).count() == 6, timeout=15)
    bob_bell.expect(lambda f: f["type"] == "notification.new" and "after the failover" in str(f), timeout=15)
