"""Fault-test helpers: a browser-like HTTP client and WebSocket clients against real server processes."""

from __future__ import annotations

import http.cookiejar
import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

import pytest
from websockets.sync.client import connect

pytestmark = pytest.mark.slow


@dataclass
class Page:
    status: int
    body: str
    seconds: float
    url: str


class Browser:
    """Cookies, CSRF and redirects like a browser, over urllib (no JavaScript)."""

    def __init__(self, base_url: str, cookie: str | None = None) -> None:
        self.base_url = base_url
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        self.extra_cookie = cookie

    def request(self, path: str, data: dict | None = None, *, timeout: float = 10) -> Page:
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        request = urllib.request.Request(self.base_url + path, data=body)
        if self.extra_cookie:
            request.add_header("Cookie", self.extra_cookie)
        if data is not None:
            request.add_header("Referer", self.base_url + path)
        started = time.monotonic()
        try:
            with self.opener.open(request, timeout=timeout) as response:
                text, status, url = response.read().decode(), response.status, response.url
        except urllib.error.HTTPError as exc:
            text, status, url = exc.read().decode(), exc.code, exc.url
        return Page(status, text, time.monotonic() - started, url)

    def cookie(self, name: str) -> str | None:
        return next((c.value for c in self.jar if c.name == name), None)

    def log_in(self, username: str, password: str = "pw-for-tests-123") -> Page:
        form = self.request("/accounts/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.body).group(1)
        return self.request(
            "/accounts/login/", {"csrfmiddlewaretoken": token, "username": username, "password": password}
        )


class Client:
    """A room or notification socket of a real server process; remembers every frame it read."""

    def __init__(self, server, path: str, cookie: str) -> None:
        self.ws = connect(
            f"{server.ws_url}{path}",
            additional_headers={"Cookie": cookie},
            origin=server.url,
            open_timeout=10,
            max_queue=None,  # read everything as it comes: a test client is never the slow one
        ).__enter__()
        self.frames: list[dict] = []

    def send(self, frame: dict) -> None:
        self.ws.send(json.dumps(frame))

    def expect(self, predicate, *, timeout: float = 10) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no matching frame within {timeout}s; got {self.frames[-5:]}")
            try:
                frame = json.loads(self.ws.recv(timeout=left))
            except TimeoutError:
                continue
            self.frames.append(frame)
            if predicate(frame):
                return frame

    def expect_type(self, kind: str, *, timeout: float = 10) -> dict:
        return self.expect(lambda f: f["type"] == kind, timeout=timeout)

    def drain(self, seconds: float) -> None:
        """Read whatever arrives for `seconds` (the frames are kept)."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                self.frames.append(json.loads(self.ws.recv(timeout=left)))
            except TimeoutError:
                return

    def messages(self) -> list[int]:
        """The seqs of every message.new read so far, in order of arrival."""
        return [f["message"]["seq"] for f in self.frames if f["type"] == "message.new"]

    def close(self) -> None:
        self.ws.close()
