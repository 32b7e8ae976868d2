"""Formatting, mentions, reactions and replies: the services, and the frames members receive over the socket."""

import contextlib
from html.parser import HTMLParser

import pytest
from asgiref.sync import sync_to_async
from django.apps import apps
from django.db import IntegrityError, transaction
from django.test import Client
from redis.exceptions import RedisError

from chat.formatting import ALLOWED_TAGS, mentioned_usernames, render_body
from chat.models import Message, Reaction, Room
from chat.services import message_delete, message_edit, message_post, reaction_add, reaction_remove, room_create
from chatsite.errors import UserError
from redis_toolkit.ratelimit.core import rate_limit_reset

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("redis_client")]

XSS_PAYLOADS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    '<a href="javascript:alert(1)">x</a>',
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    "[click](  javascript:alert(1))",
    "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[click](vbscript:msgbox(1))",
    "![x](javascript:alert(1))",
    "<javascript:alert(1)>",
    '[x](https://example.com" onmouseover="alert(1))',
    "`<script>alert(1)</script>`",
    "<svg/onload=alert(1)>",
    "**<iframe src=//evil>**",
]


@pytest.fixture
def people(make_user):
    return make_user("alice"), make_user("bob")


def post(room, author, body, **extra):
    return message_post(room=room, author=author, body=body, client_id="", **extra)[0]


# ------------------------------------------------------------------------ formatting
def test_chat_markdown_is_rendered_to_a_small_set_of_tags():
    html = render_body("**bold** _it_ ~~gone~~ `x<y`\n> quoted\n\n- one\n- two\n\n```\n<b>raw</b>\n```").html

    for tag in ("<strong>bold</strong>", "<em>it</em>", "<s>gone</s>", "<code>x&lt;y</code>", "<blockquote>"):
        assert tag in html
    assert "<ul>\n<li>one</li>" in html
    assert "<pre><code>&lt;b&gt;raw&lt;/b&gt;" in html


def test_links_open_in_a_new_tab_without_referrer_and_only_for_web_and_mail_schemes():
    html = render_body("see https://example.com/x or [docs](https://docs.example.com) or [me](mailto:a@b.c)").html

    assert html.count('target="_blank"') == 3
    assert html.count('rel="noopener noreferrer nofollow"') == 3
    assert 'href="https://example.com/x"' in html
    assert 'href="mailto:a@b.c"' in html
    assert "<a" not in render_body("[local](/admin/) [ftp](ftp://x.y/)").html


def test_headings_and_images_stay_text():
    html = render_body("# not a heading\n![pic](https://example.com/p.png)").html
    assert "<h1" not in html
    assert "<img" not in html


def _tags_and_attributes(html: str) -> list[tuple[str, dict]]:
    found = []

    class Collect(HTMLParser):
        def handle_starttag(self, tag, attrs):
            found.append((tag, dict(attrs)))

    Collect().feed(html)
    return found


@pytest.mark.parametrize("payload", XSS_PAYLOADS)
def test_html_and_script_links_are_refused(payload):
    for tag, attributes in _tags_and_attributes(render_body(payload).html):
        assert tag in ALLOWED_TAGS
        assert not [name for name in attributes if name.startswith("on") or name in {"src", "style"}]
        assert attributes.get("href", "https:").split(":")[0].strip().lower() in {"https", "http", "mailto"}


def test_mentions_of_existing_users_are_marked_links_outside_code_and_addresses(people):
    _alice, bob = people
    rendered = render_body("hi @bob and @ghost, mail x@example.com, `@alice` and [@alice](https://e.x)")

    assert f'<a href="/users/bob/" class="mention" data-user-id="{bob.pk}"' in rendered.html
    assert "@ghost" in rendered.html
    assert "/users/ghost/" not in rendered.html
    assert "/users/alice/" not in rendered.html
    assert rendered.mentioned_ids == {bob.pk}
    assert mentioned_usernames("`@alice` @bob") == {"bob"}


def test_posted_message_stores_its_rendered_html_beside_the_source(room, people):
    alice, _ = people
    message = post(room, alice, "**hello** <b>x</b>")
    message.refresh_from_db()

    assert message.body == "**hello** <b>x</b>"
    assert message.html == "<p><strong>hello</strong> &lt;b&gt;x&lt;/b&gt;</p>"


def test_an_edit_renders_again(room, people):
    alice, _ = people
    message = post(room, alice, "plain")

    message_edit(room=room, message_id=message.pk, editor=alice, body="now _italic_")

    message.refresh_from_db()
    assert (message.body, message.html) == ("now _italic_", "<p>now <em>italic</em></p>")


def test_the_data_migration_renders_messages_stored_before_formatting(room, people):
    alice, _ = people
    message = post(room, alice, "**old** @alice")
    Message.objects.filter(pk=message.pk).update(html="")
    migration = __import__("chat.migrations.0003_formatting_reactions_replies", fromlist=["render_existing"])

    migration.render_existing(apps, None)

    message.refresh_from_db()
    assert message.html.startswith('<p><strong>old</strong> <a href="/users/alice/" class="mention"')


async def test_members_receive_html_beside_body_and_edits_carry_new_html(room, people, join):
    alice, bob = people
    alice_socket, bob_socket = await join(alice, room), await join(bob, room)

    await alice_socket.send({"type": "message.send", "body": "**hi** @bob", "client_id": "f-1"})
    new = (await bob_socket.expect("message.new"))["message"]
    assert new["body"] == "**hi** @bob"
    assert new["html"].startswith('<p><strong>hi</strong> <a href="/users/bob/" class="mention"')
    assert (new["reply_to"], new["reply"], new["reply_count"], new["reactions"]) == (None, None, 0, [])

    await alice_socket.send({"type": "message.edit", "id": new["id"], "body": "~~hi~~"})
    edited = (await bob_socket.expect("message.edited"))["message"]
    assert edited["html"] == "<p><s>hi</s></p>"


# ------------------------------------------------------------------------ reactions
async def test_reactions_toggle_and_every_member_sees_counts_and_who(room, people, join):
    alice, bob = people
    message = await sync_to_async(post)(room, alice, "react to me")
    alice_socket, bob_socket = await join(alice, room), await join(bob, room)

    await alice_socket.send({"type": "reaction.add", "id": message.pk, "emoji": "👍🏽"})
    frame = await bob_socket.expect("reaction")
    assert frame == {
        "type": "reaction",
        "id": message.pk,
        "seq": 1,
        "room": "lobby",
        "emoji": "👍🏽",
        "count": 1,
        "users": ["alice"],
    }
    assert await alice_socket.expect("reaction") == frame  # the sender's copy is the acknowledgement
    await bob_socket.send({"type": "reaction.add", "id": message.pk, "emoji": "👍🏽"})
    assert (await alice_socket.expect("reaction"))["users"] == ["alice", "bob"]
    assert (await bob_socket.expect("reaction"))["count"] == 2
    await alice_socket.send({"type": "reaction.remove", "id": message.pk, "emoji": "👍🏽"})
    frame = await bob_socket.expect("reaction")
    assert (frame["count"], frame["users"]) == (1, ["bob"])

    assert [r async for r in Reaction.objects.values_list("user__username", "emoji")] == [("bob", "👍🏽")]


async def test_adding_the_same_reaction_twice_is_acknowledged_to_the_sender_only(room, people, join):
    alice, bob = people
    message = await sync_to_async(post)(room, alice, "once")
    alice_socket, bob_socket = await join(alice, room), await join(bob, room)
    add = {"type": "reaction.add", "id": message.pk, "emoji": "🎉"}

    await alice_socket.send(add)
    await bob_socket.expect("reaction")
    await alice_socket.expect("reaction")
    await alice_socket.send(add)

    assert (await alice_socket.expect("reaction"))["count"] == 1
    assert await bob_socket.quiet("reaction")
    assert await Reaction.objects.acount() == 1


@pytest.mark.parametrize(
    "emoji", ["👨‍👩‍👧‍👦", "🇫🇷", "🏴\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f", "#️⃣", "❤️"]
)
def test_any_single_emoji_is_a_reaction(room, people, emoji):
    alice, _ = people
    message = post(room, alice, "hi")
    frame, changed = reaction_add(room=room, message_id=message.pk, user=alice, emoji=emoji)
    assert changed
    assert frame["emoji"] == emoji


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ({"emoji": "👍👍"}, "invalid_emoji"),
        ({"emoji": "ok"}, "invalid_emoji"),
        ({"emoji": ""}, "invalid_emoji"),
        ({"emoji": " 👍"}, "invalid_emoji"),
        ({"emoji": "🇫"}, "invalid_emoji"),
        ({"emoji": 5}, "invalid_frame"),
        ({"id": "1"}, "invalid_frame"),
        ({"id": 999_999}, "not_found"),
    ],
)
async def test_bad_reactions_get_an_error_and_store_nothing(room, people, join, frame, code):
    alice, _ = people
    message = await sync_to_async(post)(room, alice, "hi")
    socket = await join(alice, room)

    await socket.send({"type": "reaction.add", "id": message.pk, "emoji": "👍", **frame})

    assert (await socket.expect("error"))["code"] == code
    assert not await Reaction.objects.aexists()


async def test_reacting_to_a_message_of_another_room_or_a_deleted_one_is_refused(room, people, join):
    alice, _ = people
    other = await sync_to_async(room_create)(slug="other", title="Other", private=True, members=[alice])
    elsewhere = await sync_to_async(post)(other, alice, "secret")
    gone = await sync_to_async(post)(room, alice, "gone")
    await sync_to_async(message_delete)(room=room, message_id=gone.pk, actor=alice)
    socket = await join(alice, room)

    await socket.send({"type": "reaction.add", "id": elsewhere.pk, "emoji": "👍"})
    assert (await socket.expect("error"))["code"] == "not_found"
    await socket.send({"type": "reaction.add", "id": gone.pk, "emoji": "👍"})
    assert (await socket.expect("error"))["code"] == "deleted"
    assert not await Reaction.objects.aexists()


@pytest.mark.parametrize(
    ("spellings", "canonical"),
    [
        (["❤", "❤️", "❤\ufe0e"], "❤️"),  # bare, emoji presentation, text presentation
        (["☺", "☺️"], "☺️"),
        (["#⃣", "#️⃣"], "#️⃣"),
        (["👁‍🗨", "👁️‍🗨️"], "👁️‍🗨️"),  # a ZWJ sequence with selectors inside
    ],
)
def test_spellings_of_one_emoji_that_differ_by_variation_selectors_are_one_reaction(room, people, spellings, canonical):
    alice, bob = people
    message = post(room, alice, "hi")

    adds = [reaction_add(room=room, message_id=message.pk, user=bob, emoji=e) for e in spellings]
    frame, changed = reaction_add(room=room, message_id=message.pk, user=alice, emoji=spellings[0])

    assert [changed for _, changed in adds] == [True] + [False] * (len(spellings) - 1)
    assert (frame["emoji"], frame["count"], frame["users"], changed) == (canonical, 2, ["bob", "alice"], True)
    assert set(Reaction.objects.values_list("emoji", flat=True)) == {canonical}
    frame, changed = reaction_remove(room=room, message_id=message.pk, user=bob, emoji=spellings[-1])
    assert (frame["emoji"], frame["users"], changed) == (canonical, ["alice"], True)


def test_the_data_migration_merges_stored_spellings_of_one_emoji_into_one_reaction(room, people, make_user):
    alice, bob = people
    carol = make_user("carol")
    message, other = post(room, alice, "hi"), post(room, alice, "there")
    # As stored before emoji were normalised: bob used both spellings, alice and carol one each.
    for user, emoji, on in [
        (alice, "❤", message),
        (bob, "❤️", message),
        (bob, "❤", message),
        (carol, "❤\ufe0e", message),
        (bob, "👍", message),
        (alice, "☺", other),
    ]:
        Reaction.objects.create(message=on, user=user, emoji=emoji)
    first_heart = Reaction.objects.get(user=alice, emoji="❤").created_at
    migration = __import__("chat.migrations.0005_merge_emoji_spellings", fromlist=["merge_spellings"])

    migration.merge_spellings(apps, None)

    rows = Reaction.objects.order_by("message_id", "created_at", "pk").values_list(
        "message_id", "emoji", "user__username"
    )
    assert list(rows) == [
        (message.pk, "❤️", "alice"),
        (message.pk, "❤️", "bob"),
        (message.pk, "❤️", "carol"),
        (message.pk, "👍", "bob"),
        (other.pk, "☺️", "alice"),
    ]
    assert Reaction.objects.get(user=alice, message=message).created_at == first_heart  # order of first use kept
    assert reaction_remove(room=room, message_id=message.pk, user=bob, emoji="❤")[0]["users"] == ["alice", "carol"]


def test_a_message_takes_at_most_fifty_different_emoji(room, people):
    alice, bob = people
    message = post(room, alice, "hi")
    fifty = [chr(0x1F600 + n) for n in range(50)]  # 😀 … the first fifty faces
    Reaction.objects.bulk_create(Reaction(message=message, user=alice, emoji=e) for e in fifty)

    with pytest.raises(UserError) as refused:
        reaction_add(room=room, message_id=message.pk, user=bob, emoji="🚀")
    assert refused.value.code == "too_many_reactions"
    assert reaction_add(room=room, message_id=message.pk, user=bob, emoji=fifty[0])[0]["count"] == 2


def test_the_database_allows_one_reaction_per_user_message_and_emoji(room, people):
    alice, _ = people
    message = post(room, alice, "hi")
    Reaction.objects.create(message=message, user=alice, emoji="👍")
    with pytest.raises(IntegrityError), transaction.atomic():
        Reaction.objects.create(message=message, user=alice, emoji="👍")


async def test_reactions_over_the_limit_get_an_error_and_are_not_stored(room, people, join, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "chat.reaction": {"limits": "2/1m", "fail": "open"}}
    alice, _ = people
    rate_limit_reset("chat.reaction", str(alice.pk))
    message = await sync_to_async(post)(room, alice, "hi")
    socket = await join(alice, room)

    for emoji in ("😀", "😃", "😄"):
        await socket.send({"type": "reaction.add", "id": message.pk, "emoji": emoji})
    await socket.expect("reaction")
    await socket.expect("reaction")
    error = await socket.expect("error")

    assert error["code"] == "rate_limited"
    assert await Reaction.objects.acount() == 2


async def test_reactions_come_with_history_and_sync(room, people, join):
    alice, bob = people
    message = await sync_to_async(post)(room, alice, "hi")
    for user, emoji in ((alice, "👍"), (bob, "👍"), (bob, "🎉")):
        await sync_to_async(reaction_add)(room=room, message_id=message.pk, user=user, emoji=emoji)
    expected = [{"emoji": "👍", "count": 2, "users": ["alice", "bob"]}, {"emoji": "🎉", "count": 1, "users": ["bob"]}]
    socket = await join(bob, room)

    await socket.send({"type": "sync", "after_seq": 0})
    assert (await socket.expect("message.new"))["message"]["reactions"] == expected

    client = Client()
    await sync_to_async(client.force_login)(bob)
    page = await sync_to_async(client.get)("/api/rooms/lobby/messages")
    assert page.json()["messages"][0]["reactions"] == expected


def test_reactions_are_stored_when_the_live_push_cannot_be_sent(room, people, spare_redis, settings):
    """Redis down: the reaction is committed first; the push after commit is what fails."""
    alice, _ = people
    message = post(room, alice, "hi")
    spare_redis.stop()
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer", "CONFIG": {"hosts": [spare_redis.url]}}
    }
    # Until broadcast failures are non-fatal everywhere (chatsite.realtime), the after-commit push may raise.
    with contextlib.suppress(RedisError):
        reaction_add(room=room, message_id=message.pk, user=alice, emoji="👍")

    assert Reaction.objects.filter(message=message, user=alice, emoji="👍").exists()


# ------------------------------------------------------------------------ replies
async def test_a_reply_carries_a_quote_of_the_original_and_the_room_hears_the_new_count(room, people, join):
    alice, bob = people
    original = await sync_to_async(post)(room, alice, "what do   you think about a really long question? " * 5)
    alice_socket, bob_socket = await join(alice, room), await join(bob, room)

    await bob_socket.send({"type": "message.send", "body": "yes", "client_id": "r-1", "reply_to": original.pk})

    reply = (await alice_socket.expect("message.new"))["message"]
    assert reply["reply_to"] == original.pk
    assert reply["reply"]["id"] == original.pk
    assert reply["reply"]["seq"] == 1
    assert reply["reply"]["author"] == "alice"
    assert reply["reply"]["excerpt"].startswith("what do you think")
    assert len(reply["reply"]["excerpt"]) == 120
    count = await alice_socket.expect("message.replies")
    assert count == {"type": "message.replies", "id": original.pk, "seq": 1, "room": "lobby", "count": 1}

    await bob_socket.send({"type": "message.delete", "id": reply["id"]})
    assert (await alice_socket.expect("message.replies"))["count"] == 0


async def test_history_shows_each_messages_reply_count_and_quote(room, people):
    alice, bob = people
    original = await sync_to_async(post)(room, alice, "question")
    await sync_to_async(post)(room, bob, "answer 1", reply_to=original.pk)
    await sync_to_async(post)(room, bob, "answer 2", reply_to=original.pk)
    client = Client()
    await sync_to_async(client.force_login)(bob)

    messages = (await sync_to_async(client.get)("/api/rooms/lobby/messages")).json()["messages"]

    assert [m["reply_count"] for m in messages] == [2, 0, 0]
    assert [m["reply"] and m["reply"]["excerpt"] for m in messages] == [None, "question", "question"]


@pytest.mark.parametrize("where", ["other_room", "deleted", "unknown", "not_an_int"])
async def test_a_reply_to_a_message_it_cannot_answer_is_refused_and_nothing_is_stored(room, people, join, where):
    alice, _ = people
    other = await sync_to_async(room_create)(slug="other", title="Other")
    targets = {
        "other_room": ((await sync_to_async(post)(other, alice, "there")).pk, "not_found"),
        "unknown": (999_999, "not_found"),
        "not_an_int": ("1", "invalid_frame"),
    }
    if where == "deleted":
        gone = await sync_to_async(post)(room, alice, "gone")
        await sync_to_async(message_delete)(room=room, message_id=gone.pk, actor=alice)
        targets["deleted"] = (gone.pk, "deleted")
    target, code = targets[where]
    before = await Message.objects.filter(room=room).acount()
    socket = await join(alice, room)

    await socket.send({"type": "message.send", "body": "reply", "client_id": "x", "reply_to": target})

    assert (await socket.expect("error"))["code"] == code
    assert await Message.objects.filter(room=room).acount() == before
    assert (await Room.objects.aget(pk=room.pk)).last_seq == before  # no seq used up


def test_history_around_a_seq_is_centred_on_it(room, people):
    alice, _ = people
    for n in range(1, 101):
        post(room, alice, f"m{n}")
    client = Client()
    client.force_login(alice)

    page = client.get("/api/rooms/lobby/messages?around=30&limit=20").json()

    assert [m["seq"] for m in page["messages"]] == list(range(20, 40))
    assert (page["has_more"], page["has_newer"]) == (True, True)
    edge = client.get("/api/rooms/lobby/messages?around=99&limit=20").json()
    assert [m["seq"] for m in edge["messages"]] == list(range(89, 101))
    assert edge["has_newer"] is False


@pytest.mark.parametrize("query", ["around=x", "around=-1", "around=5&before_seq=9", "around=5&after_seq=1"])
def test_bad_around_parameters_are_a_400_that_says_why(room, people, query):
    alice, _ = people
    client = Client()
    client.force_login(alice)

    response = client.get(f"/api/rooms/lobby/messages?{query}")

    assert response.status_code == 400
    assert "around" in response.json()["error"]["detail"]


def test_a_history_page_costs_three_queries_whatever_its_reactions_replies_and_files(
    room, people, django_assert_num_queries
):
    alice, bob = people
    original = post(room, alice, "q")
    for n in range(20):
        message = post(room, bob, f"a{n}", reply_to=original.pk)
        reaction_add(room=room, message_id=message.pk, user=alice, emoji="👍")
    from chat import frames
    from chat.selectors import message_history

    with django_assert_num_queries(3):  # messages with quotes and reply counts, reactions, attachments
        page, _ = message_history(room=room, limit=50)
        data = [frames.message_data(m, room_slug=room.slug) for m in page]

    assert data[0]["reply_count"] == 20
    assert data[-1]["reactions"] == [{"emoji": "👍", "count": 1, "users": ["alice"]}]
    assert data[-1]["reply"]["excerpt"] == "q"


def test_the_admin_shows_reactions_and_replies_and_deleting_a_reaction_updates_the_count(room, people, make_user):
    alice, bob = people
    admin_user = make_user("root", is_staff=True, is_superuser=True)
    original = post(room, alice, "q")
    answer = post(room, bob, "a", reply_to=original.pk)
    reaction_add(room=room, message_id=answer.pk, user=alice, emoji="👍")
    reaction = Reaction.objects.get()
    client = Client()
    client.force_login(admin_user)

    assert "👍" in client.get("/admin/chat/reaction/").text
    change = client.get(f"/admin/chat/message/{answer.pk}/change/").text
    assert "👍" in change
    assert f"lobby#{original.seq}" in change  # what it replies to
    response = client.post(
        "/admin/chat/reaction/", {"action": "delete_selected", "_selected_action": [reaction.pk], "post": "yes"}
    )

    assert response.status_code == 302
    assert not Reaction.objects.exists()
