"""Posting chat messages: many posts per transaction (group commit), on a few threads of their own.

Room sockets hand their `message.send` to `apost_message`. Posts queued meanwhile, from every socket of
the process, are taken together: one transaction per room for all of them (one row lock, one INSERT of
the messages, one of their outbox rows), so the database's commit rate stops being the message rate.
On PostgreSQL a public room's lock, seqs and messages are one statement; its transaction is three round
trips (that statement, the outbox rows, COMMIT). Every statement of a batch is plain SQL, built once per size.
The posting threads are not Channels' single shared database thread, so reads of other sockets do not
queue behind writes, and PostgreSQL gets several transactions at once (one room is always written by
the same thread, so its posts batch up instead of waiting for each other's row lock).
The room hears the new messages from the event loop after commit, in one pipelined publish per batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.utils import timezone

from chat import frames
from chat.models import Message, Room
from chat.selectors import message_mentioned_usernames, message_reply_count
from chat.services import message_build
from chat.uploads import attachments_claim
from chatsite.errors import Forbidden, NotFound
from chatsite.realtime import abroadcast_many_to_room
from redis_toolkit.events.outbox import publish_events

logger = logging.getLogger(__name__)

MAX_BATCH = 200  # posts per round of one posting thread (all rooms together)


@dataclass(frozen=True)
class Post:
    """One `message.send`, as message_post takes it."""

    room: Room
    author: Any
    body: str
    client_id: str = ""
    reply_to: int | None = None
    attachments: Sequence[str] = ()  # as given: attachments_claim refuses what is not a list of ids


@dataclass
class Posted:
    """What a post became: the message (the first one, for a repeated client_id) and what the room hears."""

    message: Message
    created: bool
    frames: list[dict] = field(default_factory=list)  # room frames to push after commit, in order
    published: bool = False  # apost_message: the frames went out to Redis


Committed = Callable[[dict[int, Posted | Exception]], None]


def message_post_many(posts: Sequence[Post], *, on_committed: Committed | None = None) -> list[Posted | Exception]:
    """Persist many posts, one transaction per room; each post's result (or its error) in the posts' order.

    Each room's new messages take its next seqs in the posts' order (gapless, under the room's row
    lock, as message_post). A client_id the author already used in the room (before, or earlier in the
    batch) gives the first message back, created=False. A post that fails (bad input, a member removed
    meanwhile, an attachment already sent) fails alone: the others are posted.

    `on_committed` hears each committed transaction's results (by index in `posts`) as soon as it commits,
    before the transaction's other after-commit work (the outbox's XADD, a Redis round trip).
    """
    results: list[Posted | Exception | None] = [None] * len(posts)
    by_room: dict[int, list[tuple[int, Message]]] = {}
    for i, post in enumerate(posts):
        try:
            message = message_build(
                room=post.room,
                author=post.author,
                body=post.body,
                client_id=post.client_id,
                reply_to=post.reply_to,
                attachments=post.attachments,
            )
        except Exception as exc:
            results[i] = exc
            continue
        by_room.setdefault(post.room.pk, []).append((i, message))
    for items in by_room.values():
        try:
            outcome = _commit(posts, items, on_committed)
        except Exception as exc:
            if len(items) == 1:
                outcome = {items[0][0]: exc}
            else:  # one post broke the transaction: each on its own, so only that one fails
                outcome = {}
                for item in items:
                    try:
                        outcome.update(_commit(posts, [item], on_committed))
                    except Exception as exc:
                        outcome[item[0]] = exc
        for i, result in outcome.items():
            results[i] = result
    return results  # type: ignore[return-value]


def _commit(
    posts: Sequence[Post], items: list[tuple[int, Message]], on_committed: Committed | None = None
) -> dict[int, Posted | Exception]:
    """Store the messages of one room in one transaction (all, or none and raise)."""
    room = posts[items[0][0]].room
    new: list[tuple[int, Message]] = []
    first_of: dict[tuple[int, str], int] = {}
    again: dict[int, int] = {}  # a post repeating an earlier one of the batch (same client_id): that one's index
    for i, message in items:
        key = (message.author_id, message.client_id)
        if message.client_id and key in first_of:
            again[i] = first_of[key]
            continue
        first_of.setdefault(key, i)
        new.append((i, message))
    if connection.vendor == "postgresql" and room.kind == Room.Kind.PUBLIC:
        with contextlib.suppress(_NotInOneStatement):  # rolled back: nothing written
            return _commit_with(_store_in_public_room, posts, room, new, again, on_committed)
    return _commit_with(_store, posts, room, new, again, on_committed)


def _commit_with(store, posts, room: Room, new: list[tuple[int, Message]], again: dict[int, int], on_committed) -> dict:
    """_commit's transaction, its messages stored by `store` (_store or _store_in_public_room)."""
    out: dict[int, Posted | Exception] = {}
    with transaction.atomic(), connection.cursor() as cursor:
        stored = store(cursor, room.pk, new)
        if stored is None:
            return {i: NotFound("This room no longer exists.") for i in [*(i for i, _ in new), *again]}
        earlier, refused, last_seq = stored
        if on_committed is not None:  # registered before publish_events' push: on_commit keeps their order
            transaction.on_commit(functools.partial(on_committed, out), robust=True)
        created: list[tuple[int, Message]] = []
        for i, message in new:
            if i in refused:
                out[i] = refused[i]
            elif message.client_id and (key := (message.author_id, message.client_id)) in earlier:
                out[i] = Posted(earlier[key], created=False)  # a retried send: the first message
            else:
                created.append((i, message))
        for i, message in created:
            ids, author = posts[i].attachments, message.author
            message.claimed_attachments = attachments_claim(message=message, ids=ids, user=author)
        if created:
            publish_events("chat.message.posted", [_posted_event(m, room) for _, m in created])
        for i, message in created:
            pushed = [frames.message_new(message, room_slug=room.slug, author_name=message.author.username)]
            if message.reply_to is not None:
                count = message_reply_count(message_id=message.reply_to.pk)
                pushed.append(frames.replies(message.reply_to, room_slug=room.slug, count=count))
            out[i] = Posted(message, created=True, frames=pushed)
        for i, first in again.items():  # `out` is complete before commit: on_committed reads it then
            done = out[first]
            out[i] = Posted(done.message, created=False) if isinstance(done, Posted) else done
    room.last_seq = max(room.last_seq, last_seq)
    return out


def _posted_event(message: Message, room: Room) -> dict:
    """The payload of "chat.message.posted": with what the notification rules need to tell it notifies nobody.

    `mentions` counts the body's @names as notifications.rules reads them (no "@", no parse).
    """
    mentions = len(message_mentioned_usernames(body=message.body)) if "@" in message.body else 0
    return {
        "message_id": message.pk,
        "room_id": room.pk,
        "seq": message.seq,
        "author_id": message.author_id,
        "direct": room.kind == Room.Kind.DIRECT,
        "reply_to": message.reply_to_id,
        "mentions": mentions,
    }


Stored = tuple[dict[tuple[int, str], Message], dict[int, Exception], int]  # earlier posts, refused ones, last seq


def _store(cursor, room_id: int, new: list[tuple[int, Message]]) -> Stored | None:
    """INSERT the posts that are new with the room's next seqs (their pk and seq set); None: no such room."""
    # Read before the room's lock (one round trip less while it is held): a post of the same client_id
    # committed in between makes the INSERT fail on the unique constraint, and message_post_many retries
    # post by post, which then finds it here.
    earlier = _earlier_posts(room_id, {(m.author_id, m.client_id) for _, m in new if m.client_id})
    fresh = [(i, m) for i, m in new if not (m.client_id and (m.author_id, m.client_id) in earlier)]
    if not fresh:
        return earlier, {}, 0
    # One statement takes the room's row lock and its next seqs: gapless and ordered per room, whatever the
    # process; the lock is held until commit.
    cursor.execute(
        "UPDATE chat_room SET last_seq = last_seq + %s WHERE id = %s RETURNING last_seq, kind", [len(fresh), room_id]
    )
    row = cursor.fetchone()
    if row is None:
        return None
    last_seq, kind = row
    first = last_seq - len(fresh) + 1
    refused: dict[int, Exception] = {}
    if kind != Room.Kind.PUBLIC:
        # Read under the lock that a removal takes too: a member removed while their socket was open posts
        # nothing, whichever commits first.
        authors = list({m.author_id for _, m in new})
        cursor.execute(_members_sql(len(authors)), [room_id, *authors])
        allowed = {user_id for (user_id,) in cursor.fetchall()}
        refused = {
            i: Forbidden("You are no longer a member of this room.") for i, m in new if m.author_id not in allowed
        }
        fresh = [(i, m) for i, m in fresh if i not in refused]
        if first + len(fresh) - 1 != last_seq:  # give back the seqs of the refused ones
            last_seq = first + len(fresh) - 1
            cursor.execute("UPDATE chat_room SET last_seq = %s WHERE id = %s", [last_seq, room_id])
    for seq, (_, message) in enumerate(fresh, start=first):
        message.seq = seq
    if fresh:
        _insert_messages(cursor, room_id, [m for _, m in fresh])
    return earlier, refused, last_seq


@functools.cache
def _earlier_posts_sql(pairs: int) -> str:
    # By (author, client_id) pairs and client_id <> '': what the partial unique index holds, so each pair is
    # one index probe. By room and client_id alone the index gives all the room's rows (40 ms at 200,000).
    # No ORM: the model's default ordering would join the room table, and compiling costs more than the probes.
    return (
        "SELECT id, author_id, client_id FROM chat_message WHERE room_id = %s AND client_id <> '' "
        f"AND (author_id, client_id) IN ({', '.join(['(%s, %s)'] * pairs)})"
    )


def _earlier_posts(room_id: int, pairs: set[tuple[int, str]]) -> dict[tuple[int, str], Message]:
    """The room's messages already stored under these (author id, client_id) pairs."""
    if not pairs:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(_earlier_posts_sql(len(pairs)), [room_id, *(value for pair in pairs for value in pair)])
        found = {pk: (author_id, client_id) for pk, author_id, client_id in cursor.fetchall()}
    if not found:  # the usual case: no retried send
        return {}
    return {found[m.pk]: m for m in Message.objects.filter(pk__in=found)}


# The statements of a batch are plain SQL, built once per size: Django compiling its queries was an eighth
# of a loaded server's time. The same text serves PostgreSQL and SQLite.
@functools.cache
def _members_sql(users: int) -> str:
    return f"SELECT user_id FROM chat_membership WHERE room_id = %s AND user_id IN ({', '.join(['%s'] * users)})"


_ROW = "(%s, %s, %s, %s, %s, %s, %s, %s)"


@functools.cache
def _insert_messages_sql(rows: int) -> str:
    return (
        "INSERT INTO chat_message (room_id, seq, author_id, body, html, reply_to_id, created_at, client_id) "
        f"VALUES {', '.join([_ROW] * rows)} RETURNING id, seq"
    )


def _insert_messages(cursor, room_id: int, messages: list[Message]) -> None:
    """INSERT the messages (their seqs set), as bulk_create would: ids and created_at filled in, saved."""
    now = timezone.now()
    created_at = connection.ops.adapt_datetimefield_value(now)
    params: list = []
    for m in messages:
        params += [room_id, m.seq, m.author_id, m.body, m.html, m.reply_to_id, created_at, m.client_id]
    cursor.execute(_insert_messages_sql(len(messages)), params)
    ids = {seq: pk for pk, seq in cursor.fetchall()}  # by seq: RETURNING promises no order
    for m in messages:
        _mark_stored(m, ids[m.seq], now)


def _mark_stored(message: Message, pk: int, created_at) -> None:
    """What bulk_create leaves on a saved instance: its id and creation time, and saved in this database."""
    message.pk, message.created_at = pk, created_at
    message._state.adding, message._state.db = False, connection.alias


class _NotInOneStatement(Exception):
    """_store_in_public_room found a repeated client_id, or a room that is not public any more (or gone)."""


_POST = "(%s::int, %s::integer, %s::text, %s::text, %s::bigint, %s::timestamptz, %s::varchar)"


@functools.cache
def _store_in_public_room_sql(rows: int) -> str:
    # No look-up of the client_ids first: the unique index answers for them while inserting, and the rare
    # repeat (a client's retry) rolls this back for _store, whose seqs then leave it out. A same client_id
    # being committed by another process is waited for, not an error.
    values = ", ".join([_POST] * rows)
    return f"""
        WITH post (n, author_id, body, html, reply_to_id, created_at, client_id) AS (VALUES {values}),
        room AS (UPDATE chat_room SET last_seq = last_seq + %s WHERE id = %s AND kind = %s RETURNING last_seq)
        INSERT INTO chat_message (room_id, seq, author_id, body, html, reply_to_id, created_at, client_id)
        SELECT %s, room.last_seq - %s + post.n, post.author_id, post.body, post.html, post.reply_to_id,
            post.created_at, post.client_id
        FROM post, room
        ON CONFLICT (room_id, author_id, client_id) WHERE client_id <> '' DO NOTHING
        RETURNING id, seq
    """


def _store_in_public_room(cursor, room_id: int, new: list[tuple[int, Message]]) -> Stored:
    """_store in one statement (PostgreSQL) for a public room, which has no membership to read under its lock.

    Raises _NotInOneStatement (the caller rolls back) unless every post was new and the room still public.
    """
    now = timezone.now()
    params: list = []
    for n, (_, m) in enumerate(new, start=1):
        params += [n, m.author_id, m.body, m.html, m.reply_to_id, now, m.client_id]
    cursor.execute(
        _store_in_public_room_sql(len(new)), [*params, len(new), room_id, Room.Kind.PUBLIC, room_id, len(new)]
    )
    ids = {seq: pk for pk, seq in cursor.fetchall()}
    if len(ids) != len(new):
        raise _NotInOneStatement
    last_seq = max(ids)
    for seq, (_, m) in enumerate(new, start=last_seq - len(new) + 1):
        m.seq = seq
        _mark_stored(m, ids[seq], now)
    return {}, {}, last_seq


# ------------------------------------------------------------------------ the posting threads
@dataclass
class _Job:
    post: Post
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future


_queues: list[queue.SimpleQueue] = []
_start_lock = threading.Lock()


def _queue_for(room_id: int) -> queue.SimpleQueue:
    if not _queues:
        with _start_lock:
            if not _queues:
                threads = settings.POSTING_THREADS
                for n in range(threads):
                    jobs: queue.SimpleQueue = queue.SimpleQueue()
                    threading.Thread(target=_run, args=(jobs,), name=f"chat-posting-{n}", daemon=True).start()
                    _queues.append(jobs)
    return _queues[room_id % len(_queues)]


def _run(jobs: queue.SimpleQueue) -> None:
    while True:
        batch = [jobs.get()]
        while len(batch) < MAX_BATCH:
            try:
                batch.append(jobs.get_nowait())
            except queue.Empty:
                break
        rooms: dict[int, list[_Job]] = {}
        for job in batch:
            rooms.setdefault(job.post.room.pk, []).append(job)
        # As database_sync_to_async does around each call: a connection past CONN_MAX_AGE or broken
        # (CONN_HEALTH_CHECKS) is replaced before the round, and closed after it when it should be.
        close_old_connections()
        try:
            for room_jobs in rooms.values():  # each room's messages go out as soon as they are committed
                _post_and_settle(room_jobs)
        finally:
            close_old_connections()


def _post_and_settle(batch: list[_Job]) -> None:
    settled: set[int] = set()

    def hand_off(outcome: dict[int, Posted | Exception]) -> None:
        # Right after commit, before the outbox's XADD of the posted events: the room hears its messages
        # one Redis round trip sooner (an XADD that fails later is the relay's to send, as before).
        _hand_off([(batch[i], result) for i, result in outcome.items()])
        settled.update(outcome)

    try:
        results: list = message_post_many([job.post for job in batch], on_committed=hand_off)
    except Exception as exc:  # message_post_many answers per post; this is a bug or the database gone
        logger.exception("posting a batch of %d messages failed", len(batch))
        results = [exc] * len(batch)
    _hand_off([(job, result) for i, (job, result) in enumerate(zip(batch, results, strict=True)) if i not in settled])


def _hand_off(results: list[tuple[_Job, Posted | Exception]]) -> None:
    """Give posts' results to the event loops that wait for them (publish, then answer the posters)."""
    by_loop: dict[asyncio.AbstractEventLoop, list] = {}
    for job, result in results:
        by_loop.setdefault(job.loop, []).append((job, result))
    for loop, done in by_loop.items():
        with contextlib.suppress(RuntimeError):  # that event loop is closed: nobody waits for these any more
            loop.call_soon_threadsafe(_settle, done)


_SETTLING: set[asyncio.Task] = set()


def _settle(done: list[tuple[_Job, Posted | Exception]]) -> None:
    task = asyncio.get_running_loop().create_task(_publish(done))
    _SETTLING.add(task)  # held until done: the loop keeps only weak references
    task.add_done_callback(_SETTLING.discard)


async def _publish(done: list[tuple[_Job, Posted | Exception]]) -> None:
    """Push each room's new messages in one pipelined publish, then answer the posters."""
    by_room: dict[int, list[Posted]] = {}
    for job, result in done:
        if isinstance(result, Posted) and result.frames:
            by_room.setdefault(job.post.room.pk, []).append(result)

    async def push(room_id: int, posted: list[Posted]) -> None:
        ok = await abroadcast_many_to_room(room_id, [frame for p in posted for frame in p.frames])
        for p in posted:
            p.published = ok

    try:
        await asyncio.gather(*(push(room_id, posted) for room_id, posted in by_room.items()))
    except Exception:  # the layer lost them: each sender acknowledges to itself, the others resync
        logger.exception("publishing posted messages failed")
    for job, result in done:
        if job.future.done():
            continue
        if isinstance(result, Exception):
            job.future.set_exception(result)
        else:
            job.future.set_result(result)


async def apost_message(
    *,
    room: Room,
    author,
    body: str,
    client_id: str = "",
    reply_to: int | None = None,
    attachments: Sequence[str] = (),
) -> Posted:
    """message_post for a socket: queued for the posting threads, answered once stored and published.

    `Posted.published` is False when Redis refused the room's frames (the message is stored: the
    sender acknowledges to itself, the others get it through their resync).
    """
    loop = asyncio.get_running_loop()
    post = Post(room, author, body, client_id or "", reply_to, attachments or ())
    job = _Job(post, loop, loop.create_future())
    _queue_for(room.pk).put(job)
    return await job.future
