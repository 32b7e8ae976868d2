"""Attack helpers: a signed-in member's HTTP client and WebSocket against a real server process."""

from __future__ import annotations

import asyncio
import contextlib
import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from http.cookies import SimpleCookie

import pytest
import websockets
from django.conf import settings

from tests.conftest import AsgiServer, session_cookie
from tests.e2e.conftest import browser, signed_in_page  # noqa: F401 - Chromium fixtures for the browser attacks


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode()

    def json(self):
        return json.loads(self.body)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # tests look at where a redirect points, they do not follow it


class Client:
    """A browser's requests, as a hostile member would send them: session cookie, CSRF token, Origin."""

    def __init__(self, server: AsgiServer, user=None, *, address: str | None = None) -> None:
        self.server = server
        self.cookies: dict[str, str] = {}
        self.address = address  # sent as X-Forwarded-For (servers started with NUM_PROXIES=1)
        if user is not None:
            self.cookies[settings.SESSION_COOKIE_NAME] = session_cookie(user)

    @property
    def session_key(self) -> str:
        return self.cookies[settings.SESSION_COOKIE_NAME]

    def cookie_header(self) -> str:
        return "; ".join(f"{k}={v}" for k, v in self.cookies.items())

    def csrf(self) -> str:
        if "csrftoken" not in self.cookies:
            # Any page with a form sets it; the login page sends a signed-in browser on, so it asks home.
            signed_in = settings.SESSION_COOKIE_NAME in self.cookies
            self.request("GET", "/" if signed_in else "/accounts/login/")
        return self.cookies["csrftoken"]

    def request(self, method: str, path: str, *, form=None, body=None, headers=None) -> Response:
        data = None
        headers = {"Origin": self.server.origin, **(headers or {})}
        if method not in ("GET", "HEAD"):
            headers["X-CSRFToken"] = self.csrf()
        if form is not None:
            data = urllib.parse.urlencode({"csrfmiddlewaretoken": self.csrf(), **form}).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif body is not None:
            data = json.dumps(body).encode() if not isinstance(body, bytes) else body
            headers["Content-Type"] = "application/json"
        if self.cookies:
            headers["Cookie"] = self.cookie_header()
        if self.address:
            headers["X-Forwarded-For"] = self.address
        req = urllib.request.Request(self.server.url + path, data=data, method=method, headers=headers)
        opener = urllib.request.build_opener(_NoRedirect)
        try:
            with opener.open(req, timeout=20) as raw:
                response = Response(raw.status, dict(raw.headers.items()), raw.read())
                header_list = raw.headers.get_all("Set-Cookie") or []
        except urllib.error.HTTPError as err:
            response = Response(err.code, dict(err.headers.items()), err.read())
            header_list = err.headers.get_all("Set-Cookie") or []
        for header in header_list:
            for name, morsel in SimpleCookie(header).items():
                if morsel.value:
                    self.cookies[name] = morsel.value
                else:
                    self.cookies.pop(name, None)
        return response

    def get(self, path: str, **kwargs) -> Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs) -> Response:
        return self.request("POST", path, **kwargs)

    async def arequest(self, method: str, path: str, **kwargs) -> Response:
        return await asyncio.to_thread(self.request, method, path, **kwargs)


class Closed(Exception):
    def __init__(self, code: int | None):
        super().__init__(f"socket closed with {code}")
        self.code = code


class Sock:
    """One WebSocket of a real server; `expect` skips chatter, `closed` waits for the close code."""

    def __init__(self, ws) -> None:
        self.ws = ws

    async def send(self, frame: dict | str) -> None:
        """Send a frame; one sent after the server closed the socket goes nowhere, as for a browser."""
        with contextlib.suppress(websockets.ConnectionClosed):
            await self.ws.send(frame if isinstance(frame, str) else json.dumps(frame))

    async def expect(self, *types: str, timeout: float = 5) -> dict:
        async with asyncio.timeout(timeout):  # TimeoutError when no such frame comes
            while True:
                try:
                    frame = json.loads(await self.ws.recv())
                except websockets.ConnectionClosed as exc:
                    raise Closed(exc.rcvd.code if exc.rcvd else None) from None
                if frame["type"] in types:
                    return frame

    async def closed(self, timeout: float = 3) -> int | None:
        """The close code the server sent (None: the connection dropped without a close frame)."""
        try:
            async with asyncio.timeout(timeout):
                while True:
                    await self.ws.recv()
        except websockets.ConnectionClosed as exc:
            return exc.rcvd.code if exc.rcvd else None

    async def close(self) -> None:
        await self.ws.close()


class Refused(Exception):
    """The handshake itself was refused (HTTP status, e.g. 403 for a foreign Origin)."""

    def __init__(self, status: int):
        super().__init__(f"handshake refused with {status}")
        self.status = status


async def connect(server: AsgiServer, client: Client | None, path: str, *, origin: str | None = "", **kw) -> Sock:
    """Open a socket as `client` (None: anonymous); `origin=""` sends the server's own, None sends none."""
    headers = {}
    if client is not None and client.cookies:
        headers["Cookie"] = client.cookie_header()
    try:
        ws = await websockets.connect(
            server.ws_url + path,
            additional_headers=headers,
            origin=server.origin if origin == "" else origin,
            open_timeout=10,
            **kw,
        )
    except websockets.InvalidStatus as exc:
        raise Refused(exc.response.status_code) from None
    return Sock(ws)


async def in_room(server: AsgiServer, client: Client, slug: str) -> Sock:
    sock = await connect(server, client, f"/ws/rooms/{slug}/")
    await sock.expect("presence")
    return sock


@pytest.fixture
def site(asgi_server, redis_client) -> AsgiServer:
    """One real daphne process on this test's database and Redis."""
    return asgi_server()
