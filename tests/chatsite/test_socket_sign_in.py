"""The handshake's hand-written queries decide what Django's own checks decide (chatsite.sessions, chat.selectors)."""

import pytest
from django.contrib.auth import get_user
from django.contrib.sessions.models import Session

from chat.selectors import room_for_socket
from chat.services import room_create
from chatsite.errors import Forbidden, NotFound
from chatsite.sessions import _store, session_sign_in
from tests.conftest import session_cookie

pytestmark = pytest.mark.django_db


def test_a_signed_in_session_gives_its_user_and_the_stored_expiry(make_user):
    alice = make_user("alice")
    key = session_cookie(alice)

    user, expires_in = session_sign_in(key)

    assert user == alice
    assert user.username == "alice"
    assert isinstance(user.is_active, bool)  # SQLite stores 1; the ORM gives True
    assert user.is_active
    assert user.date_joined == alice.date_joined  # converted as the ORM would (SQLite stores text)
    stored = Session.objects.get(session_key=key).get_decoded()
    assert stored["_auth_user_id"] == str(alice.pk)
    assert 13 * 86400 < expires_in <= 14 * 86400


def test_no_session_an_unknown_one_or_an_inactive_user_signs_nobody_in(make_user):
    bob = make_user("bob")
    key = session_cookie(bob)
    assert session_sign_in(None) == (None, None)
    assert session_sign_in("x" * 32) == (None, None)

    bob.is_active = False
    bob.save()
    assert session_sign_in(key) == (None, None)


def test_a_password_change_ends_the_session_as_get_user_would(make_user):
    carol = make_user("carol")
    key = session_cookie(carol)
    carol.set_password("a-new-password-456")
    carol.save()

    assert session_sign_in(key) == (None, None)
    assert not get_user(type("Request", (), {"session": _store(key)})()).is_authenticated
    assert not Session.objects.filter(session_key=key).exists()  # flushed, as get_user flushes it


def test_room_for_socket_says_what_room_get_for_user_says_and_whether_a_member(make_user):
    dana, erin = make_user("dana"), make_user("erin")
    lobby = room_create(slug="lobby", title="Lobby")
    secret = room_create(slug="secret", title="Secret", private=True, created_by=dana)

    assert room_for_socket(slug="lobby", user=erin) == (lobby, False)
    room, member = room_for_socket(slug="secret", user=dana)
    assert (room, member, room.kind, room.last_seq) == (secret, True, "private", 0)
    with pytest.raises(Forbidden):
        room_for_socket(slug="secret", user=erin)
    with pytest.raises(NotFound):
        room_for_socket(slug="nowhere", user=erin)
