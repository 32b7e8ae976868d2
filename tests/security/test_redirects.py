"""Hole 7: a redirect target taken from the request never leaves the site."""

import pytest

from chat.services import room_create
from notifications.models import Notification
from tests.security.conftest import Client

pytestmark = [pytest.mark.slow]


@pytest.mark.parametrize(
    "target", ["http://evil.example/", "//evil.example/", "https://evil.example/rooms/", "/\\evil.example"]
)
def test_mark_read_does_not_redirect_to_another_site(site, make_user, target):
    alice = make_user("alice")
    note = Notification.objects.create(recipient=alice, kind="broadcast", event_id="e1", text="hi")
    response = Client(site, alice).post(f"/notifications/{note.pk}/read/", form={"next": target})
    assert response.status == 302
    assert response.headers["Location"] == "/notifications/"


def test_mark_read_still_follows_a_next_on_this_site(site, make_user):
    alice = make_user("alice")
    room_create(slug="lobby", title="Lobby")
    note = Notification.objects.create(recipient=alice, kind="broadcast", event_id="e2", text="hi")
    response = Client(site, alice).post(f"/notifications/{note.pk}/read/", form={"next": "/rooms/lobby/#seq-3"})
    assert response.headers["Location"] == "/rooms/lobby/#seq-3"


def test_login_does_not_redirect_to_another_site(site, make_user):
    make_user("alice")
    client = Client(site)
    response = client.post(
        "/accounts/login/?next=http://evil.example/", form={"username": "alice", "password": "pw-for-tests-123"}
    )
    assert response.status == 302
    assert response.headers["Location"] == "/"
