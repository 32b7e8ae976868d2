"""Accounts: sign up, log in/out, password change, sessions in Redis and the "Your sessions" page."""

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.sessions.models import Session
from django.core.cache import caches
from django.test import Client, override_settings
from django.urls import reverse

from accounts.models import UserSession
from chatsite.asgi import application

pytestmark = pytest.mark.django_db


def signed_in_client(user, agent: str = "Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0", ip: str = "10.0.0.1"):
    client = Client(HTTP_USER_AGENT=agent, REMOTE_ADDR=ip)
    assert client.login(username=user.username, password="pw-for-tests-123")
    client.get(reverse("home"))  # the first signed-in request records the session
    return client


def test_signup_creates_the_account_and_signs_in(client):
    response = client.post(
        reverse("accounts:signup"),
        {"username": "carol", "password1": "a-long-pass-phrase-9", "password2": "a-long-pass-phrase-9"},
        follow=True,
    )

    assert response.status_code == 200
    assert response.context["user"].username == "carol"


def test_signup_with_mismatched_passwords_shows_the_error(client, django_user_model):
    response = client.post(
        reverse("accounts:signup"), {"username": "carol", "password1": "a-long-pass-9x", "password2": "other-pass-9x"}
    )

    assert response.status_code == 200
    assert "didn’t match" in response.content.decode()
    assert not django_user_model.objects.filter(username="carol").exists()


def test_login_uses_the_standard_form_fields_and_logout_signs_out(client, make_user):
    user = make_user("dave")
    page = client.get("/accounts/login/").content.decode()
    assert 'name="username"' in page
    assert 'name="password"' in page

    response = client.post("/accounts/login/", {"username": "dave", "password": "pw-for-tests-123"})
    assert response.status_code == 302
    assert client.get(reverse("home")).context["user"] == user

    client.post(reverse("logout"))
    assert client.get(reverse("home")).status_code == 302


def test_wrong_password_is_refused_with_a_message(client, make_user):
    make_user("dave")
    response = client.post("/accounts/login/", {"username": "dave", "password": "nope"})

    assert response.status_code == 200
    assert "didn't match" in response.content.decode()


def test_password_change_keeps_this_browser_signed_in(make_user):
    user = make_user()
    client = signed_in_client(user)
    response = client.post(
        reverse("password_change"),
        {
            "old_password": "pw-for-tests-123",
            "new_password1": "brand-new-pass-77",
            "new_password2": "brand-new-pass-77",
        },
    )

    assert response.status_code == 302
    assert client.get(reverse("home")).status_code == 200
    user.refresh_from_db()
    assert user.check_password("brand-new-pass-77")
    assert UserSession.objects.filter(user=user).count() == 1  # the cycled key replaced the old row


def test_sessions_are_stored_in_redis_and_the_database(make_user, redis_client):
    client = signed_in_client(make_user())
    key = client.session.session_key

    assert caches["sessions"].get(f"django.contrib.sessions.cached_db{key}") is not None
    assert Session.objects.filter(session_key=key).exists()


def test_session_survives_a_redis_restart(make_user, spare_redis, settings):
    sessions_cache = {**settings.CACHES["sessions"], "LOCATION": spare_redis.url}
    with override_settings(CACHES={**settings.CACHES, "sessions": sessions_cache}):
        client = signed_in_client(make_user())
        assert caches["sessions"].get(f"django.contrib.sessions.cached_db{client.session.session_key}")

        spare_redis.stop()
        spare_redis.start()  # a fresh server: everything Redis held is gone
        assert caches["sessions"].get(f"django.contrib.sessions.cached_db{client.session.session_key}") is None

        assert client.get(reverse("home")).status_code == 200


def test_sessions_page_lists_browsers_and_marks_this_one(make_user):
    user = make_user()
    firefox = signed_in_client(user, agent="Mozilla/5.0 (X11; Linux x86_64; rv:130.0) Gecko/20100101 Firefox/130.0")
    signed_in_client(
        user, agent="Mozilla/5.0 (Windows NT 10.0) AppleWebKit/537.36 Chrome/120.0 Safari/537.36", ip="10.0.0.2"
    )

    page = firefox.get(reverse("accounts:sessions")).content.decode()

    assert "Firefox on Linux" in page
    assert "Chrome on Windows" in page
    assert "10.0.0.2" in page
    assert page.count("(this browser)") == 1


def test_revoking_a_session_signs_that_browser_out_only(make_user):
    user = make_user()
    laptop, phone = signed_in_client(user), signed_in_client(user, ip="10.0.0.9")
    phone_row = UserSession.objects.get(session_key=phone.session.session_key)

    laptop.post(reverse("accounts:session-revoke", args=[phone_row.pk]))

    assert phone.get(reverse("home")).status_code == 302  # sent to the login page
    assert laptop.get(reverse("home")).status_code == 200


def test_revoke_all_others_keeps_the_current_browser(make_user):
    user = make_user()
    current, *others = [signed_in_client(user) for _ in range(3)]

    current.post(reverse("accounts:session-revoke-others"))

    assert current.get(reverse("home")).status_code == 200
    assert all(other.get(reverse("home")).status_code == 302 for other in others)


def test_cannot_revoke_someone_elses_session(make_user):
    mine, theirs = signed_in_client(make_user()), signed_in_client(make_user())
    their_row = UserSession.objects.get(session_key=theirs.session.session_key)

    response = mine.post(reverse("accounts:session-revoke", args=[their_row.pk]))

    assert response.status_code == 404
    assert theirs.get(reverse("home")).status_code == 200


def socket_for(client, path: str = "/ws/notifications/") -> WebsocketCommunicator:
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    return WebsocketCommunicator(application, path, headers=[(b"cookie", cookie), (b"origin", b"http://localhost")])


@pytest.mark.django_db(transaction=True)
async def test_revoked_browser_has_its_open_sockets_closed(make_user, redis_client):
    user = await sync_to_async(make_user)()
    laptop = await sync_to_async(signed_in_client)(user)
    phone = await sync_to_async(signed_in_client)(user, ip="10.0.0.9")
    phone_socket, laptop_socket = socket_for(phone), socket_for(laptop)
    assert (await phone_socket.connect())[0]
    assert (await laptop_socket.connect())[0]
    phone_row = await UserSession.objects.aget(session_key=phone.session.session_key)

    await sync_to_async(laptop.post)(reverse("accounts:session-revoke", args=[phone_row.pk]))

    closed = await phone_socket.receive_output(timeout=3)
    assert closed == {"type": "websocket.close", "code": 4401}
    assert await laptop_socket.receive_nothing(timeout=0.3)
    await laptop_socket.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_anonymous_socket_is_closed_with_4401():
    communicator = WebsocketCommunicator(application, "/ws/notifications/", headers=[(b"origin", b"http://localhost")])
    connected, _ = await communicator.connect()

    assert connected
    assert await communicator.receive_output(timeout=2) == {"type": "websocket.close", "code": 4401}


@pytest.mark.django_db(transaction=True)
async def test_cross_site_socket_is_refused():
    communicator = WebsocketCommunicator(
        application, "/ws/notifications/", headers=[(b"origin", b"https://evil.example")]
    )
    connected, _ = await communicator.connect()

    assert not connected
