"""Redirect targets taken from a request: only this site's own URLs, never another host or scheme."""

from __future__ import annotations

from django.shortcuts import resolve_url
from django.utils.http import url_has_allowed_host_and_scheme


def safe_next(request, *, default: str, field: str = "next") -> str:
    """The request's `next` (POST, then GET) if it points into this site, else `default` (a URL or URL name)."""
    target = request.POST.get(field) or request.GET.get(field) or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return resolve_url(default)
