"""Browser tests: Playwright driving Debian's Chromium (never downloaded) against daphne processes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import require

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))


# Per module, not per session: the event loop Playwright's sync API runs in this thread would break
# every async test that pytest-django orders after the browser tests.
@pytest.fixture(scope="module")
def browser():
    require(CHROMIUM.exists(), f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    # The ORM calls in these tests are plain sync code beside that loop; only while it runs, or the
    # setting leaks into later subprocesses (`check --deploy` refuses it).
    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
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
