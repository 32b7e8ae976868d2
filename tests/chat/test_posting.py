"""Group commit (chat.posting): many posts per transaction, still gapless, exactly-once, each failing alone."""

from __future__ import annotations

import asyncio
import threading
import uuid

import pytest
from asgiref.sync import sync_to_async
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from chat.models import Membership, Message, Room
from chat.posting import Post, Posted, apost_message, message_post_many
from chat.services import room_create
from chatsite.errors import Forbidden, NotFound, UserError
from redis_toolkit.client import get_redis
from redis_toolkit.events.outbox import pushed_key
from redis_toolkit.models import OutboxEvent
from tests.chat.conftest import LockWait
from tests.conftest import cookie_header, wait_until
from tests.faults.conftest import Client

pytestmark = pytest.mark.django_db(transaction=True)


async def test_concurrent_posts_from_several_sockets_get_gapless_seqs_in_every_room(make_user):
    rooms = [await sync_to_async(room_create)(slug=f"busy{n}", title=f"Busy {n}") for n in range(2)]
    authors = [await sync_to_async(make_user)() for _ in range(6)]

    async def sender(author, room, n: int) -> list[int]:
        return [
            (await apost_message(room=room, author=author, body=f"m{i}", client_id=f"{author.pk}-{i}")).message.seq
            for i in range(n)
        ]

    seqs = await asyncio.gather(*(sender(a, rooms[i % 2], 10) for i, a in enumerate(authors)))

    for n, room in enumerate(rooms):
        mine = sorted(seq for i, s in enumerate(seqs) if i % 2 == n for seq in s)
        assert mine == list(range(1, 31))
        stored = await sync_to_async(list)(Message.objects.filter(room=room).values_list("seq", flat=True))
        assert sorted(stored) == list(range(1, 31))
        assert (await Room.objects.aget(pk=room.pk)).last_seq == 30
    events = await OutboxEvent.objects.filter(type="chat.message.posted").acount()
    assert events == 60  # each message's outbox row, in its transaction


async def test_posting_through_the_socket_gives_every_member_every_message_once_in_order(join, room, make_user):
    members = [await sync_to_async(make_user)() for _ in range(3)]
    sockets = [await join(user, room) for user in members]
    for i in range(5):  # no waiting between sends: they share transactions
        for n, socket in enumerate(sockets):
            await socket.send({"type": "message.send", "body": f"{n}:{i}", "client_id": f"{n}-{i}"})
    for socket in sockets:
        seqs = [(await socket.expect("message.new"))["message"]["seq"] for _ in range(15)]
        assert seqs == list(range(1, 16))
        assert await socket.quiet("message.new")
        await socket.close()


async def test_a_repeated_client_id_gets_the_first_message_back_even_in_one_batch(room, alice):
    first, again = await asyncio.gather(
        apost_message(room=room, author=alice, body="hello", client_id="same"),
        apost_message(room=room, author=alice, body="hello (retried)", client_id="same"),
    )
    later = await apost_message(room=room, author=alice, body="hello (late retry)", client_id="same")

    assert first.created
    assert not again.created
    assert not later.created
    assert first.message.pk == again.message.pk == later.message.pk
    assert await Message.objects.filter(room=room).acount() == 1
    assert (await Room.objects.aget(pk=room.pk)).last_seq == 1


def test_a_failing_post_in_a_batch_does_not_fail_the_others(room, alice, bob, make_user):
    secret = room_create(slug="secret", title="Secret", private=True, created_by=alice)
    results = message_post_many(
        [
            Post(room, alice, "first", "a1"),
            Post(room, alice, "with a bad attachment", "a2", attachments=(str(uuid.uuid4()),)),
            Post(room, bob, "second", "b1"),
            Post(secret, bob, "not a member", "b2"),
            Post(secret, alice, "in the secret room", "a3"),
            Post(room, bob, "   ", "b3"),  # empty
        ]
    )

    ok, attachment, second, outsider, inside, empty = results
    assert isinstance(ok, Posted)
    assert ok.created
    assert ok.message.seq == 1
    assert isinstance(attachment, UserError)
    assert isinstance(second, Posted)
    assert second.message.seq == 2
    assert isinstance(outsider, Forbidden)
    assert isinstance(inside, Posted)
    assert inside.message.seq == 1
    assert isinstance(empty, UserError)
    assert empty.code == "empty_body"
    assert list(Message.objects.filter(room=room).values_list("seq", "body")) == [(1, "first"), (2, "second")]
    assert Room.objects.get(pk=room.pk).last_seq == 2
    assert OutboxEvent.objects.filter(type="chat.message.posted").count() == 3


def test_each_committed_room_is_heard_before_its_outbox_events_go_to_redis(room, alice, bob):
    """The posting threads hand a room's messages to the event loop there, one Redis round trip sooner."""
    secret = room_create(slug="secret", title="Secret", private=True, created_by=alice)
    heard: list[tuple[dict, set[int]]] = []

    def on_committed(outcome: dict) -> None:
        pushed = {int(pk) for pk in get_redis("streams").zrange(pushed_key(), 0, -1)}
        events = OutboxEvent.objects.filter(type="chat.message.posted")  # committed: in the outbox already
        heard.append((dict(outcome), {e.pk for e in events if e.payload["room_id"] == outcome_room(outcome)} - pushed))

    def outcome_room(outcome: dict) -> int:
        return next(r.message.room_id for r in outcome.values() if isinstance(r, Posted))

    results = message_post_many(
        [Post(room, alice, "one", "a1"), Post(secret, alice, "two", "a2"), Post(room, bob, "   ", "b1")],
        on_committed=on_committed,
    )

    in_room, in_secret, empty = results
    assert [outcome for outcome, _ in heard] == [{0: in_room}, {1: in_secret}]  # each room as it commits
    assert all(len(not_pushed) == 1 for _, not_pushed in heard)  # its event waits for after the hand-off
    assert isinstance(empty, UserError)  # refused before any transaction: the caller answers it


@pytest.mark.slow
def test_redis_down_during_a_batch_loses_no_message(asgi_server, spare_redis, make_user):
    users = [make_user(f"user{i}") for i in range(3)]
    room_create(slug="lobby", title="Lobby")
    server = asgi_server(REDIS_URL=spare_redis.url)
    sockets = [Client(server, "/ws/rooms/lobby/", cookie_header(user)) for user in users]
    for socket in sockets:
        socket.expect_type("presence")

    spare_redis.stop()
    for i in range(5):  # back to back from every socket: batched together, published while Redis is gone
        for n, socket in enumerate(sockets):
            socket.send({"type": "message.send", "body": f"down {n}:{i}", "client_id": f"{n}-{i}"})
    for n, socket in enumerate(sockets):
        for i in range(5):  # each sender's own acknowledgement, though the broadcast failed
            socket.expect(lambda f, c=f"{n}-{i}": f["type"] == "message.new" and f["message"]["client_id"] == c)
    assert sorted(Message.objects.values_list("seq", flat=True)) == list(range(1, 16))
    assert OutboxEvent.objects.filter(type="chat.message.posted").count() == 15  # the workers get them later

    spare_redis.start()
    for socket in sockets:  # what each member did not get yet comes with the resync after the outage
        if 15 not in socket.messages():
            socket.expect(lambda f: f["type"] == "message.new" and f["message"]["seq"] == 15, timeout=20)
        socket.drain(0.5)
        assert socket.messages() == list(range(1, 16))  # once each, in order


def _scans(plan: dict):
    yield plan
    for child in plan.get("Plans", []):
        yield from _scans(child)


def test_the_client_id_look_up_probes_the_unique_index_by_author_and_client_id(room, alice, bob):
    """In a room of 200,000 messages a look-up by room and client_id alone read the whole room (40 ms)."""
    if connection.vendor != "postgresql":
        pytest.skip("reads PostgreSQL's plans")
    secret = room_create(slug="secret", title="Secret", private=True, created_by=alice)
    message_post_many([Post(room, alice, "before", "a0")])
    with connection.cursor() as cursor:  # busy rooms, or the planner rightly reads a small one whole
        for busy in (room, secret):
            cursor.execute(
                "INSERT INTO chat_message (room_id, seq, author_id, body, html, created_at, client_id)"
                " SELECT %s, last_seq + n, CASE WHEN n %% 2 = 0 THEN %s ELSE %s END, 'x', 'x', now(), 'old-' || n"
                " FROM chat_room, generate_series(1, 20000) AS n WHERE chat_room.id = %s",
                [busy.pk, alice.pk, bob.pk, busy.pk],
            )
            cursor.execute("UPDATE chat_room SET last_seq = last_seq + 20000 WHERE id = %s", [busy.pk])
        cursor.execute("ANALYZE chat_message")
    posts = [Post(room, alice, "hi", "a1"), Post(room, bob, "hi", "b1"), Post(room, alice, "again", "a0")]
    with CaptureQueriesContext(connection) as queries:
        results = message_post_many([*posts, Post(secret, alice, "hi", "a1")])
    assert [r.created for r in results] == [True, True, False, True]

    looked_up = []
    with connection.cursor() as cursor:
        for query in queries.captured_queries:
            if query["sql"].startswith(("SAVEPOINT", "RELEASE", "BEGIN", "COMMIT", "ROLLBACK")):
                continue
            cursor.execute("EXPLAIN (FORMAT JSON) " + query["sql"])
            for node in _scans(cursor.fetchone()[0][0]["Plan"]):
                conditions = node.get("Index Cond", "") + node.get("Filter", "")
                scan = "Index Name" in node or node["Node Type"] == "Seq Scan"  # not the heap reads of a bitmap
                if scan and "client_id" in conditions and node.get("Relation Name") in ("chat_message", None):
                    looked_up.append((node.get("Index Name"), "author_id" in node.get("Index Cond", "")))
    assert looked_up  # each room's batch looks its client_ids up
    assert set(looked_up) == {("message_unique_client_id", True)}


def test_a_room_made_private_or_deleted_since_the_socket_read_it_takes_only_its_members_posts(room, alice, bob):
    gone = room_create(slug="gone", title="Gone")
    Membership.objects.create(room=room, user=alice)
    Room.objects.filter(pk=room.pk).update(kind=Room.Kind.PRIVATE)  # `room` still says public, as a socket's copy
    Room.objects.filter(pk=gone.pk).delete()

    member, outsider, void = message_post_many(
        [Post(room, alice, "member", "a1"), Post(room, bob, "outsider", "b1"), Post(gone, alice, "void", "a2")]
    )

    assert isinstance(member, Posted)
    assert member.message.seq == 1
    assert isinstance(outsider, Forbidden)
    assert isinstance(void, NotFound)
    assert list(Message.objects.values_list("body", flat=True)) == ["member"]
    assert Room.objects.get(pk=room.pk).last_seq == 1


def test_a_client_id_committed_by_another_process_while_the_batch_waited_for_the_room_gives_that_message(
    room, alice, bob
):
    holding, release, lock_wait, results = threading.Event(), threading.Event(), LockWait(), []

    def other_process():  # the same send, through another server, holding the room's lock
        try:
            with transaction.atomic():
                message_post_many([Post(room, alice, "hello", "same")])
                holding.set()
                release.wait(10)
        finally:
            connection.close()

    def this_process():
        try:
            with lock_wait.noted():
                results.extend(message_post_many([Post(room, alice, "hello", "same"), Post(room, bob, "hi", "b1")]))
        finally:
            connection.close()

    first = threading.Thread(target=other_process)
    first.start()
    assert holding.wait(10)
    second = threading.Thread(target=this_process)
    second.start()
    wait_until(lock_wait.waiting)
    release.set()
    first.join(10)
    second.join(10)

    again, other = results
    assert isinstance(again, Posted)
    assert not again.created
    assert isinstance(other, Posted)
    assert other.created
    assert list(Message.objects.order_by("seq").values_list("seq", "client_id")) == [(1, "same"), (2, "b1")]
    assert again.message.pk == Message.objects.get(client_id="same").pk
