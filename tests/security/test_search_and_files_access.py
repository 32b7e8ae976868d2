"""An outsider probing search and files: private messages never show, files never download, ids get them nothing."""

import io
import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from chat.models import Membership
from chat.services import direct_room_open, message_post, room_create
from chatsite.errors import UserError

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def people(make_user):
    owner, outsider = make_user("owner"), make_user("outsider")
    secret = room_create(slug="secret", title="Secret", private=True, created_by=owner)
    return owner, outsider, secret


def as_user(client, user):
    client.force_login(user)
    return client


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 32), "red").save(out, "PNG")
    return out.getvalue()


def test_an_outsider_finds_nothing_of_a_private_room_or_a_dm_however_they_ask(client, people, make_user):
    owner, outsider, secret = people
    message_post(room=secret, author=owner, body="merger talks with acme", client_id="")
    message_post(room=direct_room_open(user=owner, other=make_user("pal")), author=owner, body="acme dm", client_id="")
    client = as_user(client, outsider)

    for params in ({"q": "acme"}, {"q": "acme", "author": "owner"}, {"q": "merger talks"}, {"q": '"acme"'}):
        assert client.get("/api/search", params).json()["results"] == [], params
    assert client.get("/api/search", {"q": "acme", "room": "secret"}).status_code == 400
    page = client.get("/search/", {"q": "acme"}).content.decode()
    assert "merger" not in page
    assert "Secret" not in page  # not even in the room filter's options


def test_a_removed_member_loses_search_and_downloads_at_once(client, people):
    _owner, outsider, secret = people
    Membership.objects.create(room=secret, user=outsider)
    client = as_user(client, outsider)
    data = client.post("/api/rooms/secret/uploads", {"file": SimpleUploadedFile("plan.png", png())}).json()
    message_post(room=secret, author=outsider, body="budget plan", client_id="", attachments=[data["id"]])
    assert client.get(data["url"]).status_code == 200

    Membership.objects.filter(room=secret, user=outsider).delete()

    assert client.get(data["url"]).status_code == 404
    assert client.get(data["thumbnail_url"]).status_code == 404
    assert client.get("/api/search", {"q": "budget"}).json()["results"] == []


def test_file_ids_are_random_and_an_outsider_cannot_claim_or_fetch_them(client, people):
    owner, outsider, _secret = people
    data = as_user(client, owner).post("/api/rooms/secret/uploads", {"file": SimpleUploadedFile("a.png", png())}).json()
    assert uuid.UUID(data["id"]).version == 4  # 122 random bits, not a counter to walk

    client = as_user(client, outsider)
    lobby = room_create(slug="lobby", title="Lobby")
    with pytest.raises(UserError, match="unknown"):
        message_post(room=lobby, author=outsider, body="mine now", client_id="", attachments=[data["id"]])
    assert client.get(data["url"]).status_code == 404
    assert client.get("/media/" + data["id"]).status_code == 404  # no public media route at all


def test_a_polyglot_image_is_served_so_no_browser_runs_it(client, people):
    owner, _, secret = people
    payload = png() + b"<html><script>alert(document.cookie)</script></html>"
    client = as_user(client, owner)
    data = client.post("/api/rooms/secret/uploads", {"file": SimpleUploadedFile("x.html", payload)}).json()
    message_post(room=secret, author=owner, body="pic", client_id="", attachments=[data["id"]])

    served = client.get(data["url"])

    assert served["Content-Type"] == "image/png"
    assert served["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in served["Content-Security-Policy"]
    assert served["Content-Disposition"] == 'inline; filename="x.html"'
