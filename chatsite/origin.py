"""WebSocket Origin check: a socket opens only from one of this site's own origins (scheme, host and port).

Django's CSRF check does the same for HTTP: the `Origin` must equal the request's own
`scheme://host[:port]` (the Host validated against ALLOWED_HOSTS) or one of CSRF_TRUSTED_ORIGINS.
Channels' AllowedHostsOriginValidator compares host names only, so `http://localhost:9999` passed.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import is_same_domain, split_domain_port, validate_host


def _header(scope: dict, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin1")
    return None


def _scheme(scope: dict) -> str:
    """http or https, as Django's request.scheme: a trusted proxy's header wins over the socket's own."""
    proxy = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    if proxy:
        header, secure_value = proxy
        value = _header(scope, header.removeprefix("HTTP_").lower().replace("_", "-").encode())
        if value is not None:
            return "https" if value.split(",")[0].strip() == secure_value else "http"
    return "https" if scope.get("scheme") in ("wss", "https") else "http"


def site_origins(scope: dict) -> set[str]:
    """The origins a page of this site served on this connection's Host can have."""
    scheme = _scheme(scope)
    host = _header(scope, b"host")
    if host is not None:
        domain, _ = split_domain_port(host)
        own = {f"{scheme}://{host.lower()}"} if domain and validate_host(domain, settings.ALLOWED_HOSTS) else set()
    else:
        # No Host header: no browser sends that (HTTP/1.1 requires it); in-process test clients do.
        own = {f"{scheme}://{name}" for name in settings.ALLOWED_HOSTS if "*" not in name and not name.startswith(".")}
    return own


def origin_allowed(scope: dict) -> bool:
    origin = _header(scope, b"origin")
    if not origin:
        return False  # every browser sends Origin on WebSocket handshakes; none means not a page of ours
    origin = origin.lower()
    if origin in site_origins(scope):
        return True
    parts = urlsplit(origin)
    for trusted in settings.CSRF_TRUSTED_ORIGINS:
        trusted_parts = urlsplit(trusted.lower())
        # As Django's CsrfViewMiddleware: exact origins, or "https://*.example.com" for subdomains.
        if trusted_parts.scheme == parts.scheme and (
            trusted_parts.netloc == parts.netloc
            or (trusted_parts.netloc.startswith("*.") and is_same_domain(parts.netloc, trusted_parts.netloc[1:]))
        ):
            return True
    return False


class SameOriginValidator:
    """ASGI middleware for the websocket protocol: refuses (HTTP 403) handshakes from other origins."""

    def __init__(self, application):
        self.application = application

    async def __call__(self, scope, receive, send):
        if origin_allowed(scope):
            return await self.application(scope, receive, send)
        return await WebsocketDenier()(scope, receive, send)
