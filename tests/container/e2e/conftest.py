"""The story's integration flow, run by ``make docker-test`` from the ``e2e`` test-runner
container of docker-compose.test.yml: Debian's Chromium driven by Playwright against the
gallery at ``frontend:3000``, the API replicas at ``backend:8000`` and ``backend-2:8000``,
and the shared workspace volume mounted at ``/workspace``. Outside that container these
tests are not collected (``tests/container/conftest.py``)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers import chromium


@dataclass(frozen=True)
class Stack:
    web: str
    apis: list[str]
    workspace: Path
    redis_url: str

    def ws(self, replica: int) -> str:
        return self.apis[replica].replace("http://", "ws://") + "/api/v1/events"


@pytest.fixture(scope="session")
def stack() -> Stack:
    return Stack(os.environ["AUTEUR_E2E_WEB_URL"], os.environ["AUTEUR_E2E_API_URLS"].split(","),
                 Path(os.environ["AUTEUR_WORKSPACE"]), os.environ["REDIS_URL"])  # fmt: skip


@pytest.fixture(scope="session")
def playwright():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as running:
        yield running


@pytest.fixture
def browser(playwright):
    """A browser per test, as on the host (``helpers.chromium``)."""
    with chromium(playwright) as browser:
        yield browser


@pytest.fixture
def context(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(15_000)
    yield context
    context.close()
