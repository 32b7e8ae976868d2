"""Chat pages and the history API; they call selectors and services, nothing more."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.html import format_html
from django.views.decorators.http import require_GET, require_POST

from accounts.selectors import user_last_seen
from chat import frames
from chat.forms import RoomForm
from chat.room_list import room_label, room_prefix, rooms_for_nav
from chat.selectors import (
    HISTORY_LIMIT,
    MAX_PAGE,
    message_history,
    message_history_around,
    room_can_moderate,
    room_get_for_user,
    room_members,
)
from chat.services import direct_room_open, membership_set_muted, room_create, room_join, room_slug_for_title
from chatsite.errors import NotFound, UserError, json_error
from chatsite.ids import db_int
from redis_toolkit.ratelimit.http import ratelimit_view

MENTION_MEMBERS = 500  # the composer's @ suggestions come with the page


def _room_list_page(request, form: RoomForm, *, status: int = 200):
    rooms = rooms_for_nav(request.user)
    return render(request, "chat/room_list.html", {"rooms": rooms, "form": form}, status=status)


@login_required
def home(request):
    return _room_list_page(request, RoomForm())


@login_required
@require_POST
@ratelimit_view("rooms.create", key="user")
def room_new(request):
    form = RoomForm(request.POST)
    if not form.is_valid():
        return _room_list_page(request, form, status=400)
    data = form.cleaned_data
    try:
        room = room_create(
            slug=room_slug_for_title(data["title"]),
            title=data["title"],
            topic=data["topic"],
            private=data["private"],
            created_by=request.user,
        )
    except UserError as exc:
        if exc.code == "title_taken":  # on the form, with a way to the room that has the name
            link = format_html(' <a href="{}">Open it</a>.', reverse("room", args=[exc.extra["slug"]]))
            form.add_error("title", format_html("{}{}", exc.detail, link))
            return _room_list_page(request, form, status=400)
        messages.error(request, exc.detail)
        return redirect("home")
    return redirect("room", slug=room.slug)


@login_required
def room_detail(request, slug: str):
    room = room_get_for_user(slug=slug, user=request.user)  # NotFound / Forbidden: the styled 404 / 403 page
    membership = room_join(room=room, user=request.user) if room.is_public else room.memberships.get(user=request.user)
    history, has_more = message_history(room=room, limit=HISTORY_LIMIT)
    context = {
        "room": room,
        "room_label": room_label(room, request.user),
        "room_prefix": room_prefix(room),
        "rooms": rooms_for_nav(request.user),
        "history": [frames.message_data(m, room_slug=room.slug) for m in history],
        "has_more": has_more,
        "members": room_members(room=room),
        "mention_members": [
            {"id": m.user_id, "username": m.user.username} for m in room_members(room=room)[:MENTION_MEMBERS]
        ],
        "membership": membership,
        "can_moderate": room_can_moderate(room=room, user=request.user),
        "is_owner": membership.role == membership.Role.OWNER,
    }
    return render(request, "chat/room.html", context)


@login_required
@require_POST
@ratelimit_view("rooms.manage", key="user")
def room_mute(request, slug: str):
    room = room_get_for_user(slug=slug, user=request.user)
    muted = request.POST.get("muted") == "1"
    membership_set_muted(room=room, user=request.user, muted=muted)
    messages.success(request, f"{'Muted' if muted else 'Unmuted'} {room_label(room, request.user)}.")
    return redirect("room", slug=room.slug)


def _user_or_404(username: str):
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise NotFound(f"There is nobody called “{username}” here.")
    return user


@login_required
def user_profile(request, username: str):
    profile = _user_or_404(username)
    return render(request, "chat/profile.html", {"profile": profile, "last_seen": user_last_seen(user=profile)})


@login_required
@require_POST
@ratelimit_view("chat.dm", key="user")
def direct_message(request, username: str):
    other = _user_or_404(username)
    try:
        room = direct_room_open(user=request.user, other=other)
    except UserError as exc:
        messages.error(request, exc.detail)
        return redirect("home")
    return redirect("room", slug=room.slug)


def _int_param(request, name: str) -> int | None:
    raw = request.GET.get(name)
    if raw in (None, ""):
        return None
    try:
        value = int(raw)
    except ValueError:
        raise UserError(f"“{name}” must be a whole number.", code="invalid_param") from None
    if value < 0:
        raise UserError(f"“{name}” must be 0 or more.", code="invalid_param")
    return db_int(value, what="message")


@require_GET
@ratelimit_view("api", key="user")
def api_messages(request, slug: str):
    """GET /api/rooms/<slug>/messages?before_seq=&after_seq=&around=&limit= (session auth)."""
    if not request.user.is_authenticated:
        return json_error("not_signed_in", "Sign in to read messages.", 401)
    try:
        room = room_get_for_user(slug=slug, user=request.user)
        before_seq, after_seq = _int_param(request, "before_seq"), _int_param(request, "after_seq")
        around = _int_param(request, "around")
        limit = _int_param(request, "limit") or HISTORY_LIMIT
        if limit > MAX_PAGE:
            raise UserError(f"“limit” may be at most {MAX_PAGE}.", code="invalid_param")
        if around is not None and (before_seq is not None or after_seq is not None):
            raise UserError("“around” cannot be combined with “before_seq” or “after_seq”.", code="invalid_param")
    except UserError as exc:
        return json_error(exc.code, exc.detail, exc.status)
    extra = {}
    if around is not None:  # jumping to a reply's original: the page around it
        page, has_more, extra["has_newer"] = message_history_around(room=room, seq=around, limit=limit)
    else:
        page, has_more = message_history(room=room, before_seq=before_seq, after_seq=after_seq, limit=limit)
    return JsonResponse(
        {
            "room": room.slug,
            "messages": [frames.message_data(m, room_slug=room.slug) for m in page],
            "has_more": has_more,
            **extra,
        }
    )
