"""Holes 4 and 6: no client frame ends a socket; ids out of the database's range are "not found"."""

import asyncio
import logging

import pytest
from channels.testing import WebsocketCommunicator

from chat.models import Membership, Message
from chat.services import message_post, room_create
from chatsite.ws import JsonSocketConsumer
from tests.security.conftest import Client, in_room

pytestmark = [pytest.mark.slow]


@pytest.fixture
def lobby(db):
    return room_create(slug="lobby", title="Lobby")


async def _still_usable(sock, text: str = "still here") -> bool:
    await sock.send({"type": "message.send", "body": text, "client_id": text})
    return (await sock.expect("message.new"))["message"]["body"] == text


HOSTILE = [
    ("[" * 60_000, "invalid_json", None),  # RecursionError in the JSON parser (under the size limit)
    ('{"type": "sync", "x": ' + "[" * 40 + "]" * 40 + "}", "invalid_frame", None),  # parses, nested too deep
    ('{"type": "message.send", "body": "a\\u0000b", "client_id": "n1"}', "invalid_frame", "body"),
    ('{"type": "message.send", "body": "ok", "client_id": "\\u0000"}', "invalid_frame", "client_id"),
    ('{"type": "message.send", "body": "\\ud800", "client_id": "s1"}', "invalid_frame", "body"),
    ('{"type": "message.edit", "id": 1, "body": "\\udfff"}', "invalid_frame", "body"),
    ('{"type": "message.edit", "id": 1180591620717411303424, "body": "x"}', "not_found", "id"),
    ('{"type": "message.delete", "id": -9223372036854775809}', "not_found", "id"),
    ('{"type": "sync", "after_seq": 18446744073709551616}', "not_found", "after_seq"),
    ('{"type": "read", "seq": 9223372036854775808}', "not_found", "seq"),
]


@pytest.mark.parametrize(("text", "code", "field"), HOSTILE, ids=[h[1] + "-" + str(i) for i, h in enumerate(HOSTILE)])
def test_hostile_frame_gets_an_error_and_the_socket_stays_usable(site, lobby, make_user, text, code, field):
    client = Client(site, make_user("mallory"))

    async def attack():
        sock = await in_room(site, client, "lobby")
        await sock.send(text)
        error = await sock.expect("error")
        return error, await _still_usable(sock)

    error, usable = asyncio.run(attack())
    assert error["code"] == code
    if field:
        assert f"“{field}”" in error["detail"] or field in error["detail"]
    assert usable
    assert list(Message.objects.values_list("body", flat=True)) == ["still here"], "nothing hostile was stored"


def test_out_of_range_ids_are_not_found_over_http(site, lobby, make_user):
    alice = make_user("alice")
    client = Client(site, alice)
    huge = 2**70
    assert client.post("/api/notifications/read", body={"ids": [huge]}).status == 404
    assert client.post(f"/notifications/{huge}/read/", form={}).status == 404
    assert client.post(f"/accounts/sessions/{huge}/revoke/", form={}).status == 404
    assert client.get(f"/api/rooms/lobby/messages?before_seq={huge}").status == 404
    assert client.get(f"/api/rooms/lobby/messages?after_seq={huge}").status == 404


class Exploding(JsonSocketConsumer):
    async def frame_boom(self, frame):
        raise RuntimeError("a bug nobody foresaw")


async def test_unexpected_error_becomes_internal_error_frame_logged_once(make_user, caplog, transactional_db):
    from asgiref.sync import sync_to_async
    from channels.auth import AuthMiddlewareStack

    from tests.conftest import cookie_header

    cookie = await sync_to_async(cookie_header)(await sync_to_async(make_user)("alice"))
    app = AuthMiddlewareStack(Exploding.as_asgi())
    communicator = WebsocketCommunicator(app, "/ws/x/", headers=[(b"cookie", cookie.encode())])
    assert (await communicator.connect())[0]
    with caplog.at_level(logging.ERROR, logger="chatsite.ws"):
        await communicator.send_json_to({"type": "boom"})
        error = await communicator.receive_json_from()
        await communicator.send_json_to({"type": "nope"})
        still_open = await communicator.receive_json_from()
    await communicator.disconnect()
    assert error["code"] == "internal_error"
    assert still_open["code"] == "unknown_type"
    failures = [r for r in caplog.records if r.name == "chatsite.ws"]
    assert len(failures) == 1
    assert failures[0].exc_info is not None


def test_membership_is_not_created_by_any_frame_of_a_non_member(site, make_user):
    alice, mallory = make_user("alice"), make_user("mallory")
    room = room_create(slug="secret", title="Secret", private=True, created_by=alice)
    message_post(room=room, author=alice, body="private words")
    client = Client(site, mallory)

    async def attack():
        from tests.security.conftest import connect

        sock = await connect(site, client, "/ws/rooms/secret/")
        for frame in ({"type": "read", "seq": 1}, {"type": "sync", "after_seq": 0}):
            await sock.send(frame)
        return await sock.closed()

    assert asyncio.run(attack()) == 4403
    assert not Membership.objects.filter(room=room, user=mallory).exists()
