"""Hole 9: failing logins in someone's name from one address cannot lock them out of another."""

import pytest

from tests.security.conftest import Client

pytestmark = [pytest.mark.slow]

LIMITS = {
    "NUM_PROXIES": "1",  # X-Forwarded-For names the client: one test, several addresses
    "RATE_LIMIT_AUTH_LOGIN": "6/1m",
    "RATE_LIMIT_AUTH_LOGIN_ACCOUNT": "3/1m",
    "RATE_LIMIT_AUTH_LOGIN_SLOW": "5/1m",
}


def _login(client: Client, username: str, password: str) -> int:
    return client.post("/accounts/login/", form={"username": username, "password": password}).status


def test_attacker_cannot_lock_a_user_out_by_failing_logins_in_their_name(asgi_server, redis_client, make_user):
    server = asgi_server(**LIMITS)
    make_user("alice", password="alices-own-pw-123")
    attackers = [Client(server, address=f"203.0.113.{n}") for n in range(1, 4)]

    tries = [_login(attacker, "alice", "guess") for attacker in attackers for _ in range(4)]
    owner = _login(Client(server, address="198.51.100.7"), "alice", "alices-own-pw-123")

    assert tries == [200, 200, 200, 429] * 3  # each address refused after its tries
    assert owner == 302


def test_brute_force_from_one_address_stays_limited(asgi_server, redis_client, make_user):
    server = asgi_server(**LIMITS)
    make_user("alice", password="alices-own-pw-123")
    for name in ("bob", "carol", "dave"):
        make_user(name)
    attacker = Client(server, address="203.0.113.9")

    spread = [_login(attacker, name, "guess") for name in ("bob", "carol", "dave", "bob", "carol", "dave", "bob")]
    right_password = _login(attacker, "alice", "alices-own-pw-123")

    assert spread == [200] * 6 + [429]  # per address, whoever is tried
    assert right_password == 429
