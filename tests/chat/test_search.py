"""Full-text search: what a reader may find, ranking, highlights that cannot inject HTML, filters and bad input."""

import datetime as dt
import itertools

import pytest
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from chat.models import Message
from chat.search import message_search, search_index_repair
from chat.services import membership_add, message_delete, message_edit, message_post, room_create
from redis_toolkit.client import reset_clients
from redis_toolkit.ratelimit.core import rate_limit_reset

pytestmark = pytest.mark.django_db
_names = itertools.count()


def post(room, author, body):
    return message_post(room=room, author=author, body=body, client_id="")[0]


def bodies(hits):
    return [hit.message.body for hit in hits]


def test_search_finds_words_with_stemming_best_match_first(alice):
    lobby = room_create(slug="lobby", title="Lobby")
    post(lobby, alice, "lunch at noon?")
    once = post(lobby, alice, "the deploy failed on staging")
    twice = post(lobby, alice, "deploy again: deploying the deploy script fixed it")

    hits = message_search(user=alice, query="deploys")

    assert [hit.message.pk for hit in hits] == [twice.pk, once.pk]
    assert "<mark>" in hits[0].highlight
    assert hits[0].url == f"/rooms/lobby/#seq-{twice.seq}"


def test_highlight_escapes_the_message_before_marking_the_words(alice):
    lobby = room_create(slug="lobby", title="Lobby")
    post(lobby, alice, '<img src=x onerror="alert(1)"> rollout <script>alert(2)</script>')

    [hit] = message_search(user=alice, query="rollout")

    assert "<img" not in hit.highlight
    assert "<script" not in hit.highlight
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in hit.highlight
    assert "<mark>rollout</mark>" in hit.highlight


def test_private_rooms_are_searched_only_by_their_members(alice, bob):
    secret = room_create(slug="secret", title="Secret", private=True, created_by=bob)
    post(secret, bob, "the launch code is banana")
    lobby = room_create(slug="lobby", title="Lobby")
    post(lobby, bob, "banana bread in the kitchen")

    assert bodies(message_search(user=alice, query="banana")) == ["banana bread in the kitchen"]
    assert len(message_search(user=bob, query="banana")) == 2

    membership_add(room=secret, user=alice, added_by=bob)
    assert len(message_search(user=alice, query="banana")) == 2


def test_direct_messages_are_found_only_by_the_two_people(alice, bob, make_user):
    from chat.services import direct_room_open

    carol = make_user("carol")
    dm = direct_room_open(user=alice, other=bob)
    post(dm, alice, "psst: surprise party friday")

    assert len(message_search(user=bob, query="surprise")) == 1
    assert message_search(user=carol, query="surprise") == []


def test_edits_are_reindexed_and_deleted_messages_are_never_found(alice):
    lobby = room_create(slug="lobby", title="Lobby")
    message = post(lobby, alice, "meeting moved to tuesday")
    gone = post(lobby, alice, "meeting notes are secret")

    message_edit(room=lobby, message_id=message.pk, editor=alice, body="meeting moved to thursday")
    message_delete(room=lobby, message_id=gone.pk, actor=alice)

    assert message_search(user=alice, query="tuesday") == []
    assert bodies(message_search(user=alice, query="thursday")) == ["meeting moved to thursday"]
    assert bodies(message_search(user=alice, query="meeting")) == ["meeting moved to thursday"]


def test_filters_narrow_by_room_author_and_dates(alice, bob):
    lobby, random = room_create(slug="lobby", title="Lobby"), room_create(slug="random", title="Random")
    old = post(lobby, alice, "coffee machine is broken")
    Message.objects.filter(pk=old.pk).update(created_at=timezone.now() - dt.timedelta(days=30))
    post(lobby, bob, "coffee is fixed")
    post(random, alice, "coffee anyone?")

    assert bodies(message_search(user=alice, query="coffee", room=random)) == ["coffee anyone?"]
    assert sorted(bodies(message_search(user=alice, query="coffee", author=alice))) == [
        "coffee anyone?",
        "coffee machine is broken",
    ]
    week_ago = timezone.now() - dt.timedelta(days=7)
    assert bodies(message_search(user=alice, query="coffee", until=week_ago)) == ["coffee machine is broken"]
    assert len(message_search(user=alice, query="coffee", since=week_ago)) == 2


def test_search_syntax_in_the_query_is_only_words(alice):
    lobby = room_create(slug="lobby", title="Lobby")
    post(lobby, alice, "release notes for version 2")

    for query in ['"release', "release AND OR NOT", "release*", "notes -", "(release) NEAR/2"]:
        assert bodies(message_search(user=alice, query=query)) in (["release notes for version 2"], []), query
    assert bodies(message_search(user=alice, query='"release notes"')) == ["release notes for version 2"]


def test_the_search_index_stays_in_sync_after_a_table_rebuild(alice):
    lobby = room_create(slug="lobby", title="Lobby")
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:  # what a table rebuild by a later migration does to the triggers
            cursor.execute("DROP TRIGGER chat_message_fts_insert")
    # The post_migrate repair: SQLite's triggers come back; PostgreSQL's generated column needs none.
    search_index_repair(connection)
    post(lobby, alice, "after the rebuild")

    assert bodies(message_search(user=alice, query="rebuild")) == ["after the rebuild"]


# ------------------------------------------------------------------------ the API and the page


def test_api_returns_results_as_messages_with_highlight_and_link(alice_client, alice):
    lobby = room_create(slug="lobby", title="Lobby")
    message = post(lobby, alice, "quarterly numbers look good")

    response = alice_client.get("/api/search", {"q": "numbers", "room": "lobby"})

    assert response.status_code == 200
    [result] = response.json()["results"]
    assert result["id"] == message.pk
    assert result["seq"] == message.seq
    assert result["room"] == "lobby"
    assert result["body"] == "quarterly numbers look good"
    assert result["highlight"] == "quarterly <mark>numbers</mark> look good"
    assert result["url"] == f"/rooms/lobby/#seq-{message.seq}"
    assert result["author"] == "alice"


@pytest.mark.parametrize(
    ("params", "code", "detail"),
    [
        ({"q": ""}, "empty_query", "Type some words"),
        ({"q": "   "}, "empty_query", "Type some words"),
        ({"q": "!!! ???"}, "empty_query", "at least one word"),
        ({"q": "x" * 201}, "query_too_long", "at most 200 characters"),
        ({"q": "hi", "room": "nowhere"}, "unknown_room", "no room called “nowhere”"),
        ({"q": "hi", "room": "secret"}, "unknown_room", "no room called “secret”"),
        ({"q": "hi", "author": "nobody"}, "unknown_author", "no user called “nobody”"),
        ({"q": "hi", "since": "yesterday"}, "invalid_param", "“since” must be a date"),
        ({"q": "hi", "until": "2026-13-01"}, "invalid_param", "“until” must be a date"),
        ({"q": "hi", "since": "2026-02-01", "until": "2026-01-01"}, "invalid_param", "must not be after"),
        ({"q": "hi", "limit": "500"}, "invalid_param", "from 1 to 50"),
    ],
)
def test_api_answers_bad_input_with_400_and_a_clear_reason(alice_client, make_user, params, code, detail):
    room_create(slug="secret", title="Secret", private=True, created_by=make_user("owner"))

    response = alice_client.get("/api/search", params)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == code
    assert detail in response.json()["error"]["detail"]


def test_api_requires_sign_in(client):
    response = client.get("/api/search", {"q": "anything"})

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_signed_in"


def test_search_page_lists_hits_that_open_the_message_in_its_room(alice_client, alice):
    lobby = room_create(slug="lobby", title="Lobby")
    message = post(lobby, alice, "where is the <b>wiki</b> page?")

    response = alice_client.get("/search/", {"q": "wiki"})
    html = response.content.decode()

    assert response.status_code == 200
    assert f'href="/rooms/lobby/#seq-{message.seq}"' in html
    assert "&lt;b&gt;<mark>wiki</mark>&lt;/b&gt;" in html
    assert "<b>wiki" not in html


def test_search_page_explains_bad_input(alice_client):
    response = alice_client.get("/search/", {"q": "hello", "since": "soon"})

    assert response.status_code == 400
    assert "“since” must be a date" in response.content.decode()


def test_every_page_header_has_the_search_box(alice_client):
    html = alice_client.get("/").content.decode()

    assert 'action="/search/"' in html
    assert 'aria-label="Search messages"' in html


@pytest.mark.usefixtures("redis_client")
def test_searching_too_fast_is_refused_with_429(alice_client, alice, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "search": {"limits": "2/1m", "fail": "open"}}
    rate_limit_reset("search", f"user:{alice.pk}")

    statuses = [alice_client.get("/api/search", {"q": "hi"}).status_code for _ in range(3)]

    assert statuses == [200, 200, 429]
    rate_limit_reset("search", f"user:{alice.pk}")


def test_search_works_while_redis_is_unreachable(alice_client, alice, spare_redis):
    lobby = room_create(slug="lobby", title="Lobby")
    post(lobby, alice, "redis is down but search is up")
    with override_settings(REDIS_URL=spare_redis.url, REDIS_SOCKET_TIMEOUT=1):
        reset_clients()
        spare_redis.stop()
        response = alice_client.get("/api/search", {"q": "search"})
    reset_clients()

    assert response.status_code == 200
    assert [r["body"] for r in response.json()["results"]] == ["redis is down but search is up"]


def test_an_old_rare_match_is_found_behind_many_newer_messages(alice, monkeypatch):
    import chat.search

    monkeypatch.setattr(chat.search, "FIRST_WINDOW", 2)  # PostgreSQL widens its id window until it has
    monkeypatch.setattr(chat.search, "RANK_CANDIDATES", 3)  # enough candidates or has searched everything
    lobby = room_create(slug="lobby", title="Lobby")
    needle = post(lobby, alice, "the needle in the haystack")
    for n in range(40):
        post(lobby, alice, f"hay {n} and more hay")

    assert [hit.message.pk for hit in message_search(user=alice, query="needle")] == [needle.pk]
    assert len(message_search(user=alice, query="hay", limit=50)) >= 3


def test_a_page_of_results_costs_the_same_queries_however_many_hits(alice_client, alice):
    from django.test.utils import CaptureQueriesContext

    from chat.services import reaction_add

    lobby = room_create(slug="lobby", title="Lobby")
    original = post(lobby, alice, "the original")

    def queries_for(n: int) -> int:
        for _ in range(n):
            reply = message_post(room=lobby, author=alice, body=f"budget {next(_names)}", reply_to=original.pk)[0]
            reaction_add(room=lobby, message_id=reply.pk, user=alice, emoji="👍")
        alice_client.get("/api/search", {"q": "budget"})  # warm: the session's first load is not the search
        with CaptureQueriesContext(connection) as queries:
            response = alice_client.get("/api/search", {"q": "budget", "limit": "50"})
        assert response.status_code == 200
        return len(queries)

    assert queries_for(2) == queries_for(20)  # 20 more hits: no query per hit (quotes, counts, reactions, files)
