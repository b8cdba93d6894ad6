"""Fixtures for the web tests: the embedded stack (controller, API, jobs and gallery)
on free ports, and Debian's Chromium driven by Playwright.

Browser downloads are impossible here, so Playwright always launches
``/usr/bin/chromium``. One browser serves the whole session; each test gets fresh
pages. The web tests are skipped where Chromium is not installed.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import anyio
import httpx
import pytest

from auteur.settings import Settings
from launcher.embedded import EmbeddedStack

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]  # fmt: skip
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"

pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian's chromium is not installed")


def web_settings(root: Path) -> Settings:
    return Settings(specs=root / "specs", workspace=root / "workspace", settle_seconds=0.3, grace_seconds=0.3, resync_seconds=3600)


import socket
import time
import uvicorn
from web.app import create_app as create_web_app


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _DevStack(EmbeddedStack):  # TEMPORARY until launcher/embedded.py serves the gallery
    def __post_init__(self) -> None:
        port = _free_port() if not self.web_port else self.web_port
        self.settings.web_port = port
        super().__post_init__()
        self.web_server = uvicorn.Server(uvicorn.Config(create_web_app(lambda: self.api_url), host=self.host, port=port, log_level="warning"))
        self.web_url = f"http://{self.host}:{port}"

    async def serve(self) -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(self.web_server.serve)
            await super().serve()
            self.web_server.should_exit = True

    def stop(self) -> None:
        super().stop()
        self.web_server.should_exit = True


class RunningStack:
    """The embedded stack in a thread; ``web_port=0`` and ``api_port=0`` pick free ports."""

    def __init__(self, settings: Settings, *, api_port: int = 0, web_port: int = 0) -> None:
        self.stack = _DevStack(settings, api_port=api_port, web_port=web_port)
        self.thread = threading.Thread(target=anyio.run, args=(self.stack.serve,), daemon=True)

    def __enter__(self) -> EmbeddedStack:
        self.thread.start()
        if not self.stack.ready.wait(30):
            raise RuntimeError("the embedded stack did not start")
        deadline = time.monotonic() + 10
        while not self.stack.web_server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.stack

    def __exit__(self, *exc: object) -> None:
        self.stack.stop()
        self.thread.join(30)
        assert not self.thread.is_alive(), "the stack did not stop"


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
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def context(browser):
    """A fresh browser profile per test; console errors are collected for the asserts."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(10_000)
    yield context
    context.close()


@pytest.fixture
def page(context):
    page = context.new_page()
    page.errors = []  # type: ignore[attr-defined]
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))  # type: ignore[attr-defined]
    return page


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
