"""Fixtures for the web tests: the embedded stack (controller, API, jobs and gallery)
on free ports, and Debian's Chromium driven by Playwright.

Browser downloads are impossible here, so Playwright always launches
``/usr/bin/chromium``. One browser serves the whole session; each test gets fresh
pages. Browser tests are skipped where Chromium is not installed.
"""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest
from helpers import CHROMIUM, RunningStack, chromium

from auteur.settings import Settings

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
SHOTS = Path("/tmp/auteur-dayone-shots")  # screenshots of what people try first, to look at


def web_settings(root: Path) -> Settings:
    return Settings(specs=root / "specs", workspace=root / "workspace", settle_seconds=0.3, grace_seconds=0.3, resync_seconds=3600)


@pytest.fixture(scope="session")
def web_stack(tmp_path_factory):
    """One stack for the tests that only add their own projects."""
    with RunningStack(web_settings(tmp_path_factory.mktemp("web"))) as stack:
        yield stack


@pytest.fixture(scope="session")
def api(web_stack):
    with httpx.Client(base_url=web_stack.api_url, timeout=60) as client:
        yield client


@pytest.fixture(scope="session")
def playwright():
    if not os.path.exists(CHROMIUM):
        pytest.fail("Debian's chromium is not installed (.ci/run installs it with apt-get)")
    from playwright import sync_api

    with sync_api.sync_playwright() as running:
        yield running


@pytest.fixture
def browser(playwright):
    """A browser per test (``helpers.chromium``)."""
    with chromium(playwright) as browser:
        yield browser


@pytest.fixture
def context(browser):
    """A fresh browser profile per test; console errors are collected for the asserts."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(10_000)
    yield context


@pytest.fixture
def page(context):
    page = context.new_page()
    page.errors = []  # type: ignore[attr-defined]
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))  # type: ignore[attr-defined]
    return page


@pytest.fixture
def axe_page(browser):
    """A page in a context that bypasses the gallery's CSP, so axe-core can be injected
    (``tests/web/test_accessibility.py``)."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, bypass_csp=True)
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def shots() -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    return SHOTS
