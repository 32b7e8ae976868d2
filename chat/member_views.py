"""Room management over HTTP: the members JSON API and the plain forms of the room page's members panel."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_http_methods, require_POST

from chat import frames
from chat.membership import membership_invite, membership_remove, membership_set_role, membership_user, room_update
from chat.models import Room
from chat.selectors import room_get_for_user, room_members
from chatsite.client_input import json_body
from chatsite.errors import UserError, json_error
from redis_toolkit.ratelimit.http import ratelimit_view

WRITES = ("POST", "PATCH", "DELETE")


def _text(payload: dict, name: str, *, required: bool = False) -> str | None:
    value = payload.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise UserError(f"“{name}” must be a string.", code="invalid_body")
    return value


def _api(view):
    """JSON errors for the members API: 401 when signed out, the UserError's status and code otherwise."""

    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return json_error("not_signed_in", "Sign in to manage rooms.", 401)
        try:
            return view(request, *args, **kwargs)
        except UserError as exc:
            return json_error(exc.code, exc.detail, exc.status)

    wrapper.__name__ = view.__name__
    wrapper.__doc__ = view.__doc__
    return wrapper


@require_http_methods(["GET", "POST"])
@ratelimit_view("rooms.manage", key="user", methods=WRITES)
@_api
def api_members(request, slug: str):
    """GET the room's members; POST {"username"} invites one (owners)."""
    room = room_get_for_user(slug=slug, user=request.user)
    if request.method == "GET":
        return JsonResponse({"room": room.slug, "members": [frames.member_data(m) for m in room_members(room=room)]})
    user = membership_user(username=_text(json_body(request), "username", required=True))
    membership = membership_invite(room=room, actor=request.user, user=user)
    return JsonResponse({"member": frames.member_data(membership)}, status=201)


@require_http_methods(["PATCH", "DELETE"])
@ratelimit_view("rooms.manage", key="user", methods=WRITES)
@_api
def api_member(request, slug: str, username: str):
    """PATCH {"role"} changes a member's role (owners); DELETE removes them (owners) or leaves (oneself)."""
    room = room_get_for_user(slug=slug, user=request.user)
    user = membership_user(username=username)
    if request.method == "DELETE":
        membership_remove(room=room, actor=request.user, user=user)
        return JsonResponse({"removed": user.username})
    role = _text(json_body(request), "role", required=True)
    membership = membership_set_role(room=room, actor=request.user, user=user, role=role)
    return JsonResponse({"member": frames.member_data(membership)})


@require_http_methods(["PATCH"])
@ratelimit_view("rooms.manage", key="user", methods=WRITES)
@_api
def api_room(request, slug: str):
    """PATCH {"title", "topic", "private"} (any of them): owners rename, set the topic, change privacy."""
    room = room_get_for_user(slug=slug, user=request.user)
    payload = json_body(request)
    private = payload.get("private")
    if private is not None and not isinstance(private, bool):
        raise UserError("“private” must be true or false.", code="invalid_body")
    room = room_update(
        room=room, actor=request.user, title=_text(payload, "title"), topic=_text(payload, "topic"), private=private
    )
    return JsonResponse({"room": frames.room_summary(room)})


# ------------------------------------------------------------------ plain forms
def _form_action(request, slug: str, action) -> object:
    """Run `action(room)`; a refusal becomes a message on the room page (or the room list if it is gone)."""
    try:
        room = room_get_for_user(slug=slug, user=request.user)
        return action(room) or redirect("room", slug=room.slug)
    except UserError as exc:
        messages.error(request, exc.detail)
        room = Room.objects.filter(slug=slug).first()
        return redirect("room", slug=slug) if room is not None and exc.status != 403 else redirect("home")


@login_required
@require_POST
@ratelimit_view("rooms.manage", key="user")
def member_invite(request, slug: str):
    def invite(room):
        user = membership_user(username=request.POST.get("username", "").strip())
        membership_invite(room=room, actor=request.user, user=user)
        messages.success(request, f"Added {user.username}.")

    return _form_action(request, slug, invite)


@login_required
@require_POST
@ratelimit_view("rooms.manage", key="user")
def member_remove(request, slug: str, username: str):
    def remove(room):
        user = membership_user(username=username)
        membership_remove(room=room, actor=request.user, user=user)
        if user.pk == request.user.pk:
            messages.success(request, f"You left {room.title}.")
            return redirect("home")
        messages.success(request, f"Removed {user.username}.")
        return None

    return _form_action(request, slug, remove)


@login_required
@require_POST
@ratelimit_view("rooms.manage", key="user")
def member_role(request, slug: str, username: str):
    def set_role(room):
        user = membership_user(username=username)
        membership = membership_set_role(room=room, actor=request.user, user=user, role=request.POST.get("role", ""))
        messages.success(request, f"{user.username} is now {membership.get_role_display().lower()}.")

    return _form_action(request, slug, set_role)


@login_required
@require_POST
@ratelimit_view("rooms.manage", key="user")
def room_settings(request, slug: str):
    def update(room):
        room_update(
            room=room,
            actor=request.user,
            title=request.POST.get("title", room.title),
            topic=request.POST.get("topic", room.topic),
            private=request.POST.get("private") == "1" if "private" in request.POST else None,
        )
        messages.success(request, "Room settings saved.")

    return _form_action(request, slug, update)
