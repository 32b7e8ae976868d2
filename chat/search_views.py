"""The search page and the search API: parse the filters, call chat.search.message_search, show the hits."""

from __future__ import annotations

import datetime as dt

from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from chat import frames
from chat.models import Room
from chat.room_list import room_label
from chat.search import DEFAULT_LIMIT, MAX_LIMIT, MAX_QUERY_CHARS, SearchHit, message_search, readable_rooms
from chatsite.errors import UserError, json_error
from redis_toolkit.ratelimit.http import ratelimit_view


def _date(raw: str, name: str) -> dt.date | None:
    if not raw:
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise UserError(f"“{name}” must be a date like 2026-12-31.", code="invalid_param") from None


def _filters(request) -> dict:
    """message_search's keyword arguments from the query string, or UserError naming the bad one."""
    params = request.GET
    filters: dict = {"user": request.user, "query": params.get("q", "")}
    slug = params.get("room", "").strip()
    if slug:
        room = Room.objects.filter(slug=slug, pk__in=readable_rooms(user=request.user)).first()
        if room is None:  # the same answer for a private room as for none: its name stays private
            raise UserError(f"There is no room called “{slug}” that you can read.", code="unknown_room")
        filters["room"] = room
    username = params.get("author", "").strip().lstrip("@")
    if username:
        author = get_user_model().objects.filter(username=username).first()
        if author is None:
            raise UserError(f"There is no user called “{username}”.", code="unknown_author")
        filters["author"] = author
    since, until = _date(params.get("since", ""), "since"), _date(params.get("until", ""), "until")
    if since and until and since > until:
        raise UserError("“since” must not be after “until”.", code="invalid_param")
    tz = timezone.get_current_timezone()
    if since:
        filters["since"] = dt.datetime.combine(since, dt.time.min, tzinfo=tz)
    if until and until < dt.date.max:  # the whole day of `until` is included (the last date has no next day)
        filters["until"] = dt.datetime.combine(until + dt.timedelta(days=1), dt.time.min, tzinfo=tz)
    raw_limit = params.get("limit", "")
    if raw_limit:
        if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_LIMIT:
            raise UserError(f"“limit” must be a whole number from 1 to {MAX_LIMIT}.", code="invalid_param")
        filters["limit"] = int(raw_limit)
    return filters


def _hit_data(hit: SearchHit) -> dict:
    message = hit.message
    return {
        **frames.message_data(message, room_slug=message.room.slug),
        "room_title": message.room.title,
        "highlight": str(hit.highlight),
        "url": hit.url,
    }


@require_GET
@ratelimit_view("search", key="user")
def api_search(request):
    """GET /api/search?q=&room=&author=&since=&until=&limit= (session auth)."""
    if not request.user.is_authenticated:
        return json_error("not_signed_in", "Sign in to search.", 401)
    try:
        hits = message_search(**_filters(request))
    except UserError as exc:
        return json_error(exc.code, exc.detail, exc.status)
    return JsonResponse({"query": request.GET.get("q", "").strip(), "results": [_hit_data(hit) for hit in hits]})


@login_required
@require_GET
@ratelimit_view("search", key="user")
def search_page(request):
    """/search/?q=…: the form, and the hits when there is a query."""
    rooms = list(Room.objects.filter(pk__in=readable_rooms(user=request.user)).order_by("kind", "title"))
    for room in rooms:
        room.label = room_label(room, request.user)
    context = {"params": request.GET, "rooms": rooms, "max_chars": MAX_QUERY_CHARS, "hits": None, "error": None}
    if "q" not in request.GET:
        return render(request, "chat/search.html", context)
    try:
        context["hits"] = message_search(**{"limit": DEFAULT_LIMIT, **_filters(request)})
    except UserError as exc:
        context["error"] = exc.detail
        return render(request, "chat/search.html", context, status=exc.status)
    return render(request, "chat/search.html", context)
