"""Concurrent membership changes keep a room managed: two owners leaving (or stepping down) at the same
moment leave one owner, as one at a time would. (SQLite's IMMEDIATE transactions serialize them anyway;
PostgreSQL's READ COMMITTED let each see the other still an owner.)"""

import threading

import pytest
from django.db import connection

from chat.membership import membership_remove, membership_set_role
from chat.models import Membership, Room
from chat.services import membership_add, room_create
from chatsite.errors import UserError

pytestmark = [pytest.mark.django_db(transaction=True)]


def _at_once(*calls) -> list:
    """Run each call in its own thread and database connection, released together."""
    start, results = threading.Barrier(len(calls)), [None] * len(calls)

    def run(i, call):
        start.wait()
        try:
            call()
            results[i] = "ok"
        except UserError as exc:
            results[i] = exc.code
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


@pytest.mark.parametrize("change", ["leave", "step down"])
def test_two_owners_changing_at_once_leave_the_room_one_owner(make_user, change):
    alice, carol, bob = make_user("alice"), make_user("carol"), make_user("bob")
    for trial in range(15):
        room = room_create(slug=f"team-{trial}", title=f"Team {trial}", private=True, created_by=alice, members=[bob])
        membership_add(room=room, user=carol, role=Membership.Role.OWNER)

        def act(user, room=room):
            if change == "leave":
                return lambda: membership_remove(room=Room.objects.get(pk=room.pk), actor=user, user=user)
            return lambda: membership_set_role(
                room=Room.objects.get(pk=room.pk), actor=user, user=user, role=Membership.Role.MEMBER
            )

        results = _at_once(act(alice), act(carol))
        owners = Membership.objects.filter(room=room, role=Membership.Role.OWNER).count()
        assert owners == 1, (trial, results)
