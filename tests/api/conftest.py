"""Fixtures for the API tests: the embedded stack on a free port, driven over real HTTP."""

from __future__ import annotations

import httpx
import pytest
from helpers import RunningStack, wait_for  # noqa: F401 - re-exported for the API tests

from auteur.settings import Settings


@pytest.fixture
def api_settings(tmp_path):
    return Settings(
        specs=tmp_path / "specs",
        workspace=tmp_path / "workspace",
        settle_seconds=0.3,
        grace_seconds=0.3,
        resync_seconds=3600,
    )


@pytest.fixture
def stack(api_settings):
    """Controller + API + in-process jobs in one process, the API on a free port."""
    with RunningStack(api_settings) as running:
        yield running


@pytest.fixture
def client(stack):
    with httpx.Client(base_url=stack.api_url, timeout=60) as http:
        yield http
