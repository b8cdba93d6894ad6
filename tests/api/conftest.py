"""Fixtures for the API tests: the embedded stack on a free port, driven over real HTTP."""

from __future__ import annotations

import threading

import anyio
import httpx
import pytest
from helpers import wait_for  # noqa: F401 - re-exported for the API tests

from auteur.settings import Settings
from launcher.embedded import EmbeddedStack


@pytest.fixture
def api_settings(tmp_path):
    return Settings(
        specs=tmp_path / "specs",
        workspace=tmp_path / "workspace",
        settle_seconds=0.3,
        grace_seconds=0.3,
        resync_seconds=3600,
    )


class RunningStack:
    def __init__(self, settings: Settings, **kwargs) -> None:
        self.stack = EmbeddedStack(settings, api_port=0, **kwargs)
        self.thread = threading.Thread(target=anyio.run, args=(self.stack.serve,), daemon=True)

    def __enter__(self) -> EmbeddedStack:
        self.thread.start()
        if not self.stack.ready.wait(30):
            raise RuntimeError("the embedded stack did not start")
        return self.stack

    def __exit__(self, *exc) -> None:
        self.stack.stop()
        self.thread.join(30)
        assert not self.thread.is_alive(), "the stack did not stop"


@pytest.fixture
def stack(api_settings):
    """Controller + API + in-process jobs in one process, the API on a free port."""
    with RunningStack(api_settings) as running:
        yield running


@pytest.fixture
def client(stack):
    with httpx.Client(base_url=stack.api_url, timeout=60) as http:
        yield http
