"""Notification pages and the bell's JSON endpoints."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from chatsite.client_input import json_body
from chatsite.errors import NotFound, UserError, json_error
from chatsite.ids import db_int
from chatsite.redirects import safe_next
from notifications.frames import notification_data
from notifications.selectors import notification_list
from notifications.services import notification_mark_read
from notifications.unread import unread_count
from redis_toolkit.ratelimit.http import ratelimit_view

PAGE_SIZE = 20
BELL_SIZE = 10
MAX_IDS = 100  # ids per mark-read request: a page of notifications; more was one SQL variable each


@login_required
def notification_page(request):
    order = "date" if request.GET.get("order") == "date" else "unread"
    page = Paginator(notification_list(user=request.user, order=order), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "notifications/list.html", {"page": page, "order": order})


@login_required
@require_POST
@ratelimit_view("notifications.read", key="user")
def notification_read(request, notification_id: int):
    notification_mark_read(user=request.user, ids=[notification_id])  # NotFound: the styled 404 page
    return redirect(safe_next(request, default="notifications:list"))


@login_required
@require_POST
@ratelimit_view("notifications.read", key="user")
def notification_read_all(request):
    notification_mark_read(user=request.user)
    return redirect("notifications:list")


@require_GET
def api_list(request):
    """GET: the bell's unread count and latest notifications."""
    if not request.user.is_authenticated:
        return json_error("not_signed_in", "Sign in to see notifications.", 401)
    latest = notification_list(user=request.user, order="date")[:BELL_SIZE]
    return JsonResponse(
        {"unread_count": unread_count(request.user.pk), "notifications": [notification_data(n) for n in latest]}
    )


@require_POST
@ratelimit_view("notifications.read", key="user")
def api_mark_read(request):
    """POST {"ids": [..]} or {"all": true}: mark read; answers the new unread count."""
    if not request.user.is_authenticated:
        return json_error("not_signed_in", "Sign in to see notifications.", 401)
    try:
        payload = json_body(request)
    except UserError as exc:
        return json_error(exc.code, exc.detail, exc.status)
    ids = payload.get("ids")
    if not (payload.get("all") is True or _int_list(ids)):
        return json_error("invalid_body", f'Send {{"ids": [1, 2]}} (at most {MAX_IDS} ids) or {{"all": true}}.', 400)
    try:
        ids = None if payload.get("all") is True else [db_int(i, what="notification") for i in ids]
        marked, count = notification_mark_read(user=request.user, ids=ids)
    except NotFound as exc:
        return json_error(exc.code, exc.detail, 404)
    return JsonResponse({"marked": marked, "unread_count": count})


def _int_list(value) -> bool:
    return isinstance(value, list) and 0 < len(value) <= MAX_IDS and all(type(v) is int for v in value)
