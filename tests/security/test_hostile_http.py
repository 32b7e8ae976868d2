"""Hostile HTTP input gets a clear 4xx, never a 500: NUL anywhere, lone surrogates and deep nesting in JSON
bodies, the last date there is, a mark-read request naming every notification id there could be."""

import json

import pytest
from django.test import Client

from chat.models import Membership, Room
from chat.services import room_create

pytestmark = pytest.mark.django_db

DEEP = "[" * 100_000  # RecursionError inside json.loads (well under the body size limit)


def _json(body: str) -> dict:
    return {"data": body, "content_type": "application/json"}


# (method, path, keyword arguments of the test client's call, expected status)
HOSTILE = [
    ("get", "/api/search", {"data": {"q": "a\x00b"}}, 400),
    ("get", "/api/search", {"data": {"q": "plan", "room": "secret\x00"}}, 400),
    ("get", "/api/search", {"data": {"q": "plan", "author": "alice\x00"}}, 400),
    ("get", "/search/", {"data": {"q": "a\x00b"}}, 400),
    ("get", "/users/al%00ice/", {}, 400),
    ("post", "/users/al%00ice/message/", {}, 400),
    ("delete", "/api/rooms/secret/members/b%00b", {}, 400),
    ("post", "/rooms/secret/members/", {"data": {"username": "bob\x00"}}, 400),
    ("post", "/rooms/secret/settings/", {"data": {"title": "Se\x00cret"}}, 400),
    ("post", "/api/rooms/secret/members", _json(json.dumps({"username": "bob\x00"})), 400),
    ("post", "/api/rooms/secret/members", _json('{"username": "\\ud800"}'), 400),
    ("post", "/api/rooms/secret/members", _json(DEEP), 400),
    ("patch", "/api/rooms/secret", _json(json.dumps({"title": "Se\x00cret"})), 400),
    ("patch", "/api/rooms/secret", _json('{"topic": "\\udfff"}'), 400),
    ("post", "/api/notifications/read", _json(DEEP), 400),
    ("post", "/api/notifications/read", _json(json.dumps({"ids": list(range(1, 300_000))})), 400),
]


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"), HOSTILE, ids=[f"{h[0]}-{i}" for i, h in enumerate(HOSTILE)]
)
def test_hostile_http_input_gets_a_clear_error_and_changes_nothing(make_user, method, path, kwargs, status):
    alice = make_user("alice")
    make_user("bob")
    room_create(slug="secret", title="Secret", private=True, created_by=alice)
    client = Client(raise_request_exception=False)
    client.force_login(alice)
    response = getattr(client, method)(path, **kwargs)
    assert response.status_code == status, response.content[:300]
    if path.startswith("/api/"):
        assert response.json()["error"]["code"] in {"invalid_input", "invalid_json", "invalid_body"}
    assert Room.objects.get(slug="secret").title == "Secret"
    assert list(Membership.objects.values_list("user__username", flat=True)) == ["alice"]


@pytest.mark.parametrize("path", ["/api/search", "/search/"])
def test_searching_until_the_last_date_there_is_works(make_user, path):
    client = Client(raise_request_exception=False)
    client.force_login(make_user("alice"))
    response = client.get(path, {"q": "plan", "since": "0001-01-01", "until": "9999-12-31"})
    assert response.status_code == 200, response.content[:300]
