"""/healthz, /readyz and /metrics of a real server whose Redis goes away."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from tests.faults.conftest import Browser

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_readyz_names_redis_when_it_is_down_while_healthz_stays_up(asgi_server, spare_redis):
    server = asgi_server(REDIS_URL=spare_redis.url)
    status, body = get(f"{server.url}/readyz")
    assert status == 200
    assert json.loads(body)["checks"]["streams"]["ok"]

    spare_redis.stop()
    status, body = get(f"{server.url}/readyz")
    assert status == 503
    report = json.loads(body)
    assert report["down"] == ["redis"]
    assert "onnect" in report["checks"]["redis"]["error"]
    assert get(f"{server.url}/healthz") == (200, "ok\n")

    spare_redis.start()
    assert get(f"{server.url}/readyz")[0] == 200


def test_metrics_are_prometheus_text_for_allowed_addresses_and_staff_only(asgi_server, spare_redis, make_user):
    make_user("alice")
    make_user("root", is_staff=True)
    allowed = asgi_server(REDIS_URL=spare_redis.url)
    status, body = get(f"{allowed.url}/metrics")  # 127.0.0.1 is allowed by default
    assert status == 200
    for name in ("chatsite_messages_posted_total", "chatsite_sockets_open", "chatsite_outbox_backlog"):
        assert name in body

    closed = asgi_server(REDIS_URL=spare_redis.url, METRICS_ALLOWED_IPS="10.0.0.0/8")
    assert get(f"{closed.url}/metrics")[0] == 403
    alice = Browser(closed.url)
    alice.log_in("alice")
    assert alice.request("/metrics").status == 403
    root = Browser(closed.url)
    root.log_in("root")
    page = root.request("/metrics")
    assert page.status == 200
    assert "chatsite_frames_delivered_total" in page.body
