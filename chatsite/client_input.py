"""Client input no database can store (NUL, lone surrogates) or no parser should chew on: refused in one place."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.http import HttpRequest

from chatsite.error_pages import error_page
from chatsite.errors import UserError, json_error

MAX_JSON_DEPTH = 32  # objects and lists inside each other; real frames and bodies need 3


def storable(value: Any) -> bool:
    """No NUL and no lone surrogate in any text inside `value` (PostgreSQL refuses both; SQLite the second)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item or (not item.isascii() and not _encodes(item)):
                return False
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return True


def _encodes(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def depth_ok(value: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return False
        if isinstance(item, dict):
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
    return True


def json_body(request: HttpRequest) -> dict:
    """The request's JSON object body (empty: {}), or UserError: not JSON, nested too deep, unstorable text."""
    try:
        payload = json.loads(request.body or b"{}")
    except (ValueError, RecursionError):  # RecursionError: nested too deep for the parser
        raise UserError("The body must be a JSON object.", code="invalid_json") from None
    if not isinstance(payload, dict):
        raise UserError("The body must be a JSON object.", code="invalid_body")
    if not depth_ok(payload):
        raise UserError(f"The body may nest objects and lists at most {MAX_JSON_DEPTH} deep.", code="invalid_body")
    if not storable(payload):
        raise UserError(
            "The body contains characters that cannot be stored (NUL or a lone surrogate).", code="invalid_body"
        )
    return payload


class RefuseNulMiddleware:
    """400 for a NUL character in the path, the query string or a form: no view or query ever sees one.

    PostgreSQL refuses NUL in any text, so a `%00` reaching a lookup was a 500. Large multipart bodies
    are left to their views (parsing them here would read uploads before the views' size checks).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if "\x00" in request.path_info or _has_nul(request.GET) or (_is_form(request) and _has_nul(request.POST)):
            detail = "The address or the form contains a NUL character, which nothing here can store."
            if request.path.startswith("/api/"):
                return json_error("invalid_input", detail, 400)
            return error_page(request, 400, detail)
        return self.get_response(request)


def _is_form(request: HttpRequest) -> bool:
    if request.method != "POST":
        return False
    if request.content_type == "application/x-www-form-urlencoded":
        return True
    # A form sent as multipart (any client may): parsed here only when small, like every form of the
    # site; larger ones are uploads, whose view refuses an oversized body before parsing it.
    length = request.META.get("CONTENT_LENGTH") or ""
    small = length.isdigit() and int(length) <= settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return request.content_type == "multipart/form-data" and small


def _has_nul(data) -> bool:
    return any("\x00" in key or any("\x00" in value for value in values) for key, values in data.lists())
