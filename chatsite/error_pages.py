"""Styled error pages: NotFound / Forbidden from user-facing views, and Django's 403/404/500 handlers."""

from __future__ import annotations

import logging

from django.http import HttpResponse
from django.shortcuts import render
from django.template import loader

from chatsite.errors import Forbidden, NotFound

logger = logging.getLogger(__name__)

_TITLES = {400: "Not understood", 403: "Not allowed here", 404: "Nothing here", 500: "Something went wrong"}


def error_page(request, status: int, detail: str = "") -> HttpResponse:
    """The page for `status` with a sentence the reader can act on (the same page with DEBUG on or off)."""
    return render(request, f"{status}.html", {"title": _TITLES[status], "detail": detail}, status=status)


class UserErrorPageMiddleware:
    """Turns NotFound / Forbidden raised by a view into the styled 404 / 403 page.

    Django's own Http404 shows the debug page when DEBUG is on; views raise these instead so a
    reader sees the same page in development as in production.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, NotFound | Forbidden):
            return error_page(request, exception.status, exception.detail)
        return None


def handler403(request, exception=None):
    return error_page(request, 403, "You do not have access to this page.")


def handler404(request, exception=None):
    return error_page(request, 404, "There is no page at this address.")


def handler500(request):
    # No request context: the failure may be the database or Redis the context processors need.
    return HttpResponse(loader.get_template("500.html").render({"title": _TITLES[500]}), status=500)
