"""Hole 11 and XSS: names cannot pretend to be someone else's or reverse the text around them, and no
user-written text runs as script in a real Chromium."""

import pytest

from accounts.usernames import username_skeleton
from chat.models import Room
from chat.services import room_create
from tests.security.conftest import Client

pytestmark = [pytest.mark.slow]

RLO = "\u202e"


def _signup(client: Client, username: str):
    password = "a-long-pass-phrase-9"
    return client.post("/accounts/signup/", form={"username": username, "password1": password, "password2": password})


@pytest.mark.parametrize("lookalike", ["\u0430lice", "ALICE", "a1ice", "\uff41lice", "alic\u0435"])
def test_user_cannot_sign_up_with_a_name_confusable_with_an_existing_one(site, make_user, lookalike):
    make_user("alice")
    response = _signup(Client(site), lookalike)
    assert response.status == 200
    assert "looks too much like" in response.text or "already exists" in response.text
    from django.contrib.auth import get_user_model

    assert get_user_model().objects.count() == 1


def test_direction_controls_are_removed_from_new_names_and_titles(site, make_user):
    assert _signup(Client(site), f"bob{RLO}").status == 302
    from django.contrib.auth import get_user_model

    bob = get_user_model().objects.get(username="bob")
    client = Client(site, bob)
    assert client.post("/rooms/new/", form={"title": f"Plans {RLO}gnp.exe", "topic": f"{RLO}evil"}).status == 302
    room = Room.objects.get(created_by=bob)
    assert (room.title, room.topic) == ("Plans gnp.exe", "evil")


def test_skeletons_match_look_alikes_and_keep_different_names_apart():
    assert username_skeleton("\u0440\u0430\u0443\u0440\u0430l") == username_skeleton("paypal")
    assert username_skeleton("rn") == username_skeleton("m")
    assert username_skeleton("bob") != username_skeleton("rob")
    assert username_skeleton("\u00e9lise") != username_skeleton("elise")


@pytest.mark.parametrize(
    ("private", "title", "change"),
    [
        (False, "Mine", {"title": "LOBBY"}),  # renaming a public room after another public room
        (True, "Lobby", {"private": False}),  # a private "Lobby" (allowed) going public
    ],
)
def test_an_owner_cannot_give_a_public_room_the_name_of_another(db, client, make_user, private, title, change):
    room_create(slug="lobby", title="Lobby")
    mallory = make_user("mallory")
    mine = room_create(slug="mine", title=title, private=private, created_by=mallory)
    client.force_login(mallory)

    response = client.patch("/api/rooms/mine", change, content_type="application/json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "title_taken"
    mine.refresh_from_db()
    assert (mine.title, mine.is_public) == (title, not private)
