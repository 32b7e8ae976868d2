"""Redis stopped, frozen or restarted empty under a real daphne: pages, logins and sockets keep working."""

from __future__ import annotations

import pytest
from websockets.exceptions import ConnectionClosed

from chat.services import room_create
from tests.conftest import cookie_header
from tests.faults.conftest import Browser, Client

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PAGES = ["/", "/rooms/lobby/", "/notifications/", "/accounts/sessions/"]
PAUSED = "Live updates are paused"


@pytest.mark.parametrize("fault", ["stopped", "frozen"])
def test_signed_in_pages_render_from_the_database_while_redis_is_down(fault, asgi_server, spare_redis, make_user):
    make_user("alice")
    room_create(slug="lobby", title="Lobby")
    server = asgi_server(REDIS_URL=spare_redis.url)
    browser = Browser(server.url)
    assert browser.log_in("alice").status == 200
    for path in PAGES:  # warm: first renders compile templates and user-agent regexes (slow, not Redis)
        assert browser.request(path).status == 200  # and the session is now cached in Redis too

    spare_redis.stop() if fault == "stopped" else spare_redis.pause()
    for _round in range(2):
        for path in PAGES:
            page = browser.request(path, timeout=5)
            assert page.status == 200, (path, page.body[:300])
            assert "Log out <bdi>alice</bdi>" in page.body
            # No hang: the session store gives up on Redis after 0.5 s, then skips it for a second.
            assert page.seconds < 1.0, (path, page.seconds)
    assert PAUSED in browser.request("/").body

    # Signing in works during the outage; that session is valid once Redis is back.
    late = Browser(server.url)
    make_user("bob")
    assert late.log_in("bob").status == 200
    assert "Log out <bdi>bob</bdi>" in late.request("/").body
    spare_redis.start() if fault == "stopped" else spare_redis.resume()
    for path in PAGES:
        page = late.request(path)
        assert page.status == 200
        assert "Log out <bdi>bob</bdi>" in page.body


def test_a_sign_out_during_the_outage_stays_signed_out_when_redis_returns_with_its_data(
    asgi_server, spare_redis, make_user
):
    make_user("alice")
    server = asgi_server(REDIS_URL=spare_redis.url)
    browser = Browser(server.url)
    browser.log_in("alice")
    session = browser.cookie("sessionid")
    assert "Log out <bdi>alice</bdi>" in browser.request("/").body  # cached in Redis

    spare_redis.pause()  # Redis keeps the cached session while it cannot be reached
    csrf = browser.cookie("csrftoken")
    browser.request("/accounts/logout/", {"csrfmiddlewaretoken": csrf})
    spare_redis.resume()

    stale = Browser(server.url, cookie=f"sessionid={session}")
    page = stale.request("/")
    assert "Log out <bdi>alice</bdi>" not in page.body
    assert "/accounts/login/" in page.url


def test_sockets_stay_open_through_a_redis_restart_and_get_what_was_stored_meanwhile_once(
    asgi_server, spare_redis, make_user
):
    alice, bob, carol = make_user("alice"), make_user("bob"), make_user("carol")
    room_create(slug="lobby", title="Lobby")
    server = asgi_server(REDIS_URL=spare_redis.url)
    alice_ws = Client(server, "/ws/rooms/lobby/", cookie_header(alice))
    bob_ws = Client(server, "/ws/rooms/lobby/", cookie_header(bob))
    alice_ws.expect_type("presence")
    bob_ws.expect(lambda f: f["type"] == "presence" and len(f["online"]) == 2)

    spare_redis.stop()
    # The sender's message is stored: its acknowledgement comes back although the broadcast failed.
    alice_ws.send({"type": "message.send", "body": "while redis is down", "client_id": "down-1"})
    ack = alice_ws.expect(lambda f: f["type"] == "message.new" and f["message"]["client_id"] == "down-1")
    assert ack["message"]["seq"] == 1
    # Marking it read pushes to the user's other tabs through Redis: the failure costs no socket.
    alice_ws.send({"type": "read", "seq": 1})
    alice_ws.expect_type("unread")
    # A socket opened while Redis is down is accepted, in a degraded mode that says so.
    carol_ws = Client(server, "/ws/rooms/lobby/", cookie_header(carol))
    paused = carol_ws.expect_type("error")
    assert paused["code"] == "unavailable"
    assert paused["retry_after"] > 0

    spare_redis.start()  # empty: Pub/Sub lost everything published meanwhile
    # Nobody sends anything: bob receives the message stored during the outage by himself.
    missed = bob_ws.expect_type("message.new", timeout=15)
    assert missed["message"]["body"] == "while redis is down"

    # The first frames after Redis is back go out (no stale pooled connection).
    alice_ws.send({"type": "message.send", "body": "after", "client_id": "up-1"})
    for socket in (alice_ws, bob_ws, carol_ws):
        socket.expect(lambda f: f["type"] == "message.new" and f["message"]["seq"] == 2)
    bob_ws.drain(1.0)
    alice_ws.drain(0.2)
    assert bob_ws.messages() == [1, 2]  # once each, in order
    assert alice_ws.messages() == [1, 2]
    for socket in (alice_ws, bob_ws, carol_ws):
        socket.send({"type": "sync", "after_seq": 0})
        assert socket.expect_type("sync.done")["last_seq"] == 2  # still open


def test_every_sender_right_after_redis_returns_gets_through(asgi_server, spare_redis, make_user):
    users = [make_user(f"user{i}") for i in range(3)]
    room_create(slug="lobby", title="Lobby")
    server = asgi_server(REDIS_URL=spare_redis.url)
    sockets = [Client(server, "/ws/rooms/lobby/", cookie_header(user)) for user in users]
    for socket in sockets:
        socket.expect_type("presence")
    spare_redis.stop()
    spare_redis.start()
    for i, socket in enumerate(sockets):
        socket.send({"type": "message.send", "body": f"first after restart {i}", "client_id": f"c{i}"})
    for socket in sockets:
        for seq in (1, 2, 3):
            socket.expect(lambda f, seq=seq: f["type"] == "message.new" and f["message"]["seq"] == seq)
    for socket in sockets:
        try:
            socket.send({"type": "sync", "after_seq": 3})
            socket.expect_type("sync.done")
        except ConnectionClosed as exc:  # pragma: no cover - the failure this test exists for
            pytest.fail(f"a socket was closed after Redis returned: {exc}")
