"""Full-text search of messages: a PostgreSQL tsvector column or an SQLite FTS5 table, one selector for both."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from django.contrib.postgres.search import SearchHeadline, SearchQuery, SearchRank, SearchVectorField
from django.db import connection
from django.db.models import Exists, F, OuterRef, Q, Value
from django.db.models.expressions import Expression
from django.db.models.functions import Replace
from django.urls import reverse
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from chat.models import Membership, Message, Room
from chat.selectors import messages_with_conversation, messages_with_reactions
from chatsite.errors import UserError

MAX_QUERY_CHARS = 200
DEFAULT_LIMIT = 20
MAX_LIMIT = 50
RANK_CANDIDATES = 1000  # PostgreSQL ranks about this many of the newest matches (see _search_postgres)
FIRST_WINDOW = 4096  # newest message ids searched first
# The database marks matches with these (private-use) characters; the text is escaped, then they become <mark>.
START, STOP = "\ue000", "\ue001"
# PostgreSQL's parser takes <tags> and &entities; out of headlines: they stand in for those characters there.
_PG_MASKS = {"<": "\ue002", ">": "\ue003", "&": "\ue004"}
_WORD = re.compile(r"\w+")
_MARKS = re.compile(f"([{START}{STOP}])")

# ---------------------------------------------------------------- index definitions
# PostgreSQL: a stored generated column, so every insert and edit re-indexes in the same statement and a
# deleted message drops out of the index (its vector is NULL). English stemming: "deploys" finds "deployed".
PG_CONFIG = "english"
PG_INSTALL = [
    f"""ALTER TABLE chat_message ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
        CASE WHEN deleted_at IS NULL THEN to_tsvector('{PG_CONFIG}'::regconfig, body) END) STORED""",
    "CREATE INDEX chat_message_search_idx ON chat_message USING GIN (search_vector)",
]
PG_REMOVE = ["DROP INDEX IF EXISTS chat_message_search_idx", "ALTER TABLE chat_message DROP COLUMN search_vector"]

# SQLite: an FTS5 table of its own (rowid = message id) kept in sync by triggers. Django rebuilds a table
# for some ALTERs on SQLite, which drops its triggers: post_migrate re-creates them (chat/apps.py).
SQLITE_TABLE = """CREATE VIRTUAL TABLE IF NOT EXISTS chat_message_fts
    USING fts5(body, tokenize='porter unicode61 remove_diacritics 2')"""
SQLITE_TRIGGERS = [
    """CREATE TRIGGER IF NOT EXISTS chat_message_fts_insert AFTER INSERT ON chat_message
        WHEN new.deleted_at IS NULL BEGIN
        INSERT INTO chat_message_fts(rowid, body) VALUES (new.id, new.body); END""",
    """CREATE TRIGGER IF NOT EXISTS chat_message_fts_update AFTER UPDATE OF body, deleted_at ON chat_message BEGIN
        DELETE FROM chat_message_fts WHERE rowid = old.id;
        INSERT INTO chat_message_fts(rowid, body) SELECT new.id, new.body WHERE new.deleted_at IS NULL; END""",
    """CREATE TRIGGER IF NOT EXISTS chat_message_fts_delete AFTER DELETE ON chat_message BEGIN
        DELETE FROM chat_message_fts WHERE rowid = old.id; END""",
]
SQLITE_FILL = "INSERT INTO chat_message_fts(rowid, body) SELECT id, body FROM chat_message WHERE deleted_at IS NULL"
SQLITE_REMOVE = [
    "DROP TRIGGER IF EXISTS chat_message_fts_insert",
    "DROP TRIGGER IF EXISTS chat_message_fts_update",
    "DROP TRIGGER IF EXISTS chat_message_fts_delete",
    "DROP TABLE IF EXISTS chat_message_fts",
]


def search_index_install(conn) -> None:
    """Create the index of the connection's backend and fill it with the messages already there."""
    with conn.cursor() as cursor:
        if conn.vendor == "postgresql":
            for sql in PG_INSTALL:
                cursor.execute(sql)
        elif conn.vendor == "sqlite":
            cursor.execute(SQLITE_TABLE)
            cursor.execute(SQLITE_FILL)
            for sql in SQLITE_TRIGGERS:
                cursor.execute(sql)


def search_index_remove(conn) -> None:
    with conn.cursor() as cursor:
        for sql in {"postgresql": PG_REMOVE, "sqlite": SQLITE_REMOVE}.get(conn.vendor, []):
            cursor.execute(sql)


def search_index_repair(conn) -> None:
    """Re-create SQLite's sync triggers if a table rebuild dropped them (no-op elsewhere)."""
    if conn.vendor != "sqlite" or "chat_message_fts" not in conn.introspection.table_names():
        return
    with conn.cursor() as cursor:
        for sql in SQLITE_TRIGGERS:
            cursor.execute(sql)


# --------------------------------------------------------------------------- query
@dataclass
class SearchHit:
    message: Message
    highlight: SafeString  # the text with the matching words in <mark>, escaped first

    @property
    def url(self) -> str:
        return f"{reverse('room', args=[self.message.room.slug])}#seq-{self.message.seq}"


def marked_html(text: str) -> SafeString:
    """Escape `text`, then turn the database's START/STOP marks into balanced <mark> tags."""
    out, inside = [], False
    for part in _MARKS.split(text):
        if part == START:
            if not inside:
                out.append("<mark>")
            inside = True
        elif part == STOP:
            if inside:
                out.append("</mark>")
            inside = False
        else:
            out.append(escape(part))
    if inside:
        out.append("</mark>")
    return mark_safe("".join(out))  # every piece of text above went through escape()


def clean_query(query: str) -> str:
    query = (query or "").strip()
    if not query:
        raise UserError("Type some words to search for.", code="empty_query")
    if len(query) > MAX_QUERY_CHARS:
        raise UserError(f"A search may be at most {MAX_QUERY_CHARS} characters long.", code="query_too_long")
    if not _WORD.search(query):
        raise UserError("Search for at least one word of letters or numbers.", code="empty_query")
    return query


def readable_rooms(*, user):
    """Ids of the rooms `user` may read: public rooms and those they are a member of (as a subquery)."""
    mine = Membership.objects.filter(room=OuterRef("pk"), user=user)
    return Room.objects.filter(Q(kind=Room.Kind.PUBLIC) | Q(Exists(mine))).values("pk")


def _fts5_query(query: str) -> str:
    # Each word quoted: the reader's text is never FTS5 syntax, so it cannot fail to parse.
    return " ".join(f'"{word}"' for word in _WORD.findall(query))


def message_search(
    *,
    user,
    query: str,
    room: Room | None = None,
    author=None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    limit: int = DEFAULT_LIMIT,
) -> list[SearchHit]:
    """The best-matching messages `user` may read (never deleted ones), best first, with highlights.

    `room` and `author` narrow the search (the caller checks the room is readable); `since` is inclusive,
    `until` exclusive.
    """
    query = clean_query(query)
    limit = max(1, min(limit, MAX_LIMIT))
    messages = Message.objects.filter(deleted_at__isnull=True, room_id__in=readable_rooms(user=user))
    if room is not None:
        messages = messages.filter(room=room)
    if author is not None:
        messages = messages.filter(author=author)
    if since is not None:
        messages = messages.filter(created_at__gte=since)
    if until is not None:
        messages = messages.filter(created_at__lt=until)
    messages = messages.select_related("room", "author")
    if connection.vendor == "postgresql":
        return _search_postgres(messages, query, limit)
    return _search_sqlite(messages, query, limit)


class SearchVectorColumn(Expression):
    """chat_message.search_vector under whatever alias the query gives the table (it is not a model field:
    the column exists on PostgreSQL only)."""

    output_field = SearchVectorField()

    def as_sql(self, compiler, connection):
        return f"{compiler.quote_name_unless_alias(compiler.query.get_initial_alias())}.search_vector", []


def _search_postgres(messages, query: str, limit: int) -> list[SearchHit]:
    tsquery = SearchQuery(query, config=PG_CONFIG, search_type="websearch")
    matches = (
        messages.select_related(None)
        .alias(vector=SearchVectorColumn())
        .filter(vector=tsquery)
        .annotate(rank=SearchRank(SearchVectorColumn(), tsquery))
        .order_by()  # Message's default ordering would join chat_room and sort every match
    )
    # Ranking reads every match's vector, so a word in half a million messages would take seconds.
    # Search the newest messages first, in id windows sized from the density seen so far, and stop at
    # the first window holding RANK_CANDIDATES matches: common words rank the recent matches (what a
    # chat reader wants), rare ones end up searching everything through the GIN index.
    newest = Message.objects.order_by("-id").values_list("id", flat=True).first() or 0
    window = FIRST_WINDOW
    while True:
        sql, params = matches.filter(id__gt=newest - window).values("pk", "rank").query.sql_with_params()
        with connection.cursor() as cursor:
            # A derived table the ORM has no words for: the window's best `limit`, and how many matched.
            cursor.execute(
                f"SELECT pk, count(*) OVER () FROM ({sql}) AS found ORDER BY rank DESC, pk DESC LIMIT %s",
                [*params, limit],
            )
            rows = cursor.fetchall()
        found = rows[0][1] if rows else 0
        if window >= newest or found >= RANK_CANDIDATES:
            break
        # None among the newest: a rare word, which the GIN index finds cheaply in the whole table.
        window = newest if found == 0 else int(window * min(16, max(2, 1.25 * RANK_CANDIDATES / found)))
    ids = [row[0] for row in rows]
    if not ids:
        return []
    # Headlines only for the page of results: ts_headline re-parses each body.
    masked = F("body")
    for char, mask in _PG_MASKS.items():
        masked = Replace(masked, Value(char), Value(mask))
    headline = SearchHeadline(
        masked, tsquery, config=PG_CONFIG, start_sel=START, stop_sel=STOP, max_words=40, min_words=20
    )
    page = messages_with_conversation(Message.objects.filter(pk__in=ids)).select_related("room").annotate(h=headline)
    found = {m.pk: m for m in messages_with_reactions(list(page))}
    unmask = str.maketrans({mask: char for char, mask in _PG_MASKS.items()})
    return [SearchHit(found[pk], marked_html(found[pk].h.translate(unmask))) for pk in ids if pk in found]


def _search_sqlite(messages, query: str, limit: int) -> list[SearchHit]:
    # FTS5 is a virtual table the ORM cannot join; extra() adds it to FROM beside the ORM's own filters.
    hits = (
        messages_with_conversation(messages)
        .extra(  # fixed SQL; the reader's words go in as parameters
            tables=["chat_message_fts"],
            where=["chat_message_fts.rowid = chat_message.id", "chat_message_fts MATCH %s"],
            params=[_fts5_query(query)],
            select={
                "fts_rank": "chat_message_fts.rank",
                "fts_snippet": "snippet(chat_message_fts, 0, %s, %s, '…', 40)",
            },
            select_params=[START, STOP],
        )
        .order_by("fts_rank", "-id")[:limit]
    )
    return [SearchHit(m, marked_html(m.fts_snippet)) for m in messages_with_reactions(list(hits))]
