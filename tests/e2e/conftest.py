"""Browser tests: Playwright driving Debian's Chromium (never downloaded) against daphne processes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import require

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))


@pytest.fixture(scope="module")
def browser():
    """One Chromium per test module: Playwright's loop must be gone before other tests use async_to_sync."""
    require(CHROMIUM.exists(), f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the ORM calls in these tests are plain sync code.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield browser
        browser.close()
    del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]


@pytest.fixture
def signed_in_page(browser):
    """`page = signed_in_page(server, "alice")`: a fresh browser context logged in through the login form."""
    contexts = []

    def open_page(server, username: str, password: str = "pw-for-tests-123"):
        context = browser.new_context(base_url=server.url)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(5000)
        page.goto("/accounts/login/")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(f"{server.url}/")
        return page

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture
def room_page(signed_in_page):
    """`page = room_page(server, "bob", "lobby", viewport=PHONE)`: signed in, on that room's page."""

    def open_room(server, username: str, slug: str, *, viewport: dict | None = None):
        page = signed_in_page(server, username)
        if viewport is not None:
            page.set_viewport_size(viewport)
        page.goto(f"/rooms/{slug}/")
        return page

    return open_room


@pytest.fixture
def lone_room_page(asgi_server, room_page, make_user):
    """`page = lone_room_page("quiet", "Quiet")`: bob, alone, on a new empty room's page (`**env`: the server's)."""

    def open_room(slug: str, title: str, *, viewport: dict | None = None, **env: str):
        from chat.services import room_create

        make_user("bob")
        room_create(slug=slug, title=title)
        return room_page(asgi_server(**env), "bob", slug, viewport=viewport)

    return open_room


def send_from_composer(page, text: str):
    """Type `text` into the room's composer and press Enter, as a reader does; returns the composer."""
    composer = page.get_by_role("textbox", name="Message")
    composer.fill(text)
    composer.press("Enter")
    return composer


def in_thread(fn, /, **kwargs):
    """Run a service from a plain thread: its after-commit pushes cannot run inside Playwright's loop."""
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    def call():
        try:
            return fn(**kwargs)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(call).result()


PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}


def horizontal_overflow(page) -> int:
    """How many CSS pixels the page is wider than the viewport (0 when nothing scrolls sideways)."""
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


def in_viewport(page, locator) -> bool:
    """True when the element is visible and entirely inside the viewport."""
    box = locator.bounding_box()
    size = page.viewport_size
    return bool(
        box
        and box["x"] >= 0
        and box["y"] >= 0
        and box["x"] + box["width"] <= size["width"] + 0.5
        and box["y"] + box["height"] <= size["height"] + 0.5
    )


def assert_fits(page, *locators) -> None:
    """Nothing scrolls sideways, and each of `locators` is visible entirely inside the viewport."""
    for locator in locators:
        assert in_viewport(page, locator), locator
    assert horizontal_overflow(page) <= 0


def set_hidden(page, hidden: bool) -> None:
    """Make the page report itself hidden or visible (headless tabs are always visible) and say so."""
    page.evaluate(
        """(hidden) => {
            const state = hidden ? "hidden" : "visible";
            Object.defineProperty(document, "visibilityState", {configurable: true, get: () => state});
            Object.defineProperty(document, "hidden", {configurable: true, get: () => hidden});
            document.dispatchEvent(new Event("visibilitychange"));
        }""",
        hidden,
    )
