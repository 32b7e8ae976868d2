"""Hole 1: a direct message is found by its pair of users, so no room named after it can stand in for it."""

import asyncio

import pytest

from chat.models import Membership, Room
from tests.security.conftest import Client, connect, in_room

pytestmark = [pytest.mark.slow]


def _open_dm(client: Client, username: str) -> str:
    response = client.post(f"/users/{username}/message/", form={})
    assert response.status == 302, response.text
    return response.headers["Location"].strip("/").removeprefix("rooms/")


@pytest.mark.parametrize("private", [False, True])
def test_user_cannot_take_over_a_dm_by_naming_a_room_after_it(site, make_user, private):
    alice, bob, mallory = make_user("alice"), make_user("bob"), make_user("mallory")
    squat = f"dm-{alice.pk}-{bob.pk}"
    attacker = Client(site, mallory)
    form = {"title": squat, "topic": ""} | ({"private": "on"} if private else {})
    created = attacker.post("/rooms/new/", form=form)
    assert created.status == 302
    squatted_slug = created.headers["Location"].strip("/").removeprefix("rooms/")
    assert not squatted_slug.startswith("dm-"), "the DM naming space is reserved"

    dm_slug = _open_dm(Client(site, alice), "bob")

    dm = Room.objects.get(slug=dm_slug)
    assert dm.kind == Room.Kind.DIRECT
    assert set(Membership.objects.filter(room=dm).values_list("user__username", flat=True)) == {"alice", "bob"}
    assert attacker.get(f"/rooms/{dm_slug}/").status == 403
    assert attacker.get(f"/api/rooms/{dm_slug}/messages").status == 403
    assert _open_dm(Client(site, bob), "alice") == dm_slug, "both people reach the same DM"


def test_direct_message_socket_refuses_a_third_user(site, make_user):
    make_user("alice")
    bob, mallory = make_user("bob"), make_user("mallory")
    owner, attacker = Client(site, bob), Client(site, mallory)
    dm_slug = _open_dm(owner, "alice")

    async def attack():
        sock = await connect(site, attacker, f"/ws/rooms/{dm_slug}/")
        refused = await sock.closed()
        member = await in_room(site, owner, dm_slug)
        await member.send({"type": "message.send", "body": "hi", "client_id": "c1"})
        return refused, (await member.expect("message.new"))["message"]["body"]

    assert asyncio.run(attack()) == (4403, "hi")


@pytest.mark.django_db(transaction=True)
def test_migration_pairs_existing_dms_and_moves_squatters_out_of_the_dm_names(make_user):
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    alice, bob, carol = make_user("alice"), make_user("bob"), make_user("carol")
    executor = MigrationExecutor(connection)
    executor.migrate([("chat", "0001_initial")])
    old = executor.loader.project_state([("chat", "0001_initial")]).apps
    OldRoom, OldMembership = old.get_model("chat", "Room"), old.get_model("chat", "Membership")
    dm = OldRoom.objects.create(slug=f"dm-{alice.pk}-{bob.pk}", title="alice & bob", kind="direct")
    for user in (alice, bob):
        OldMembership.objects.create(room=dm, user_id=user.pk)
    squat = OldRoom.objects.create(slug=f"dm-{alice.pk}-{carol.pk}", title="squat", kind="public")

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())

    from chat.models import DirectRoom

    assert DirectRoom.objects.get(room_id=dm.pk).user_low_id == alice.pk
    assert Room.objects.get(pk=squat.pk).slug == f"room-dm-{alice.pk}-{carol.pk}"
    assert _open_dm_service(alice, carol).kind == Room.Kind.DIRECT


def _open_dm_service(user, other):
    from chat.services import direct_room_open

    return direct_room_open(user=user, other=other)
