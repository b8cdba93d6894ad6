import os

import pytest
from helpers import assert_clean_repository

from auteur.settings import Settings


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture(autouse=True)
def _isolated_git(tmp_path_factory, monkeypatch):
    """The real git, but never the developer's own config."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))


class Clock:
    """An injected clock: tests move time instead of sleeping."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def settings(tmp_path):
    return Settings(specs=tmp_path / "specs", workspace=tmp_path / "workspace", settle_seconds=2.0, grace_seconds=2.0)


@pytest.fixture
def judge():
    return assert_clean_repository


os.environ.setdefault("AUTEUR_TEST", "1")
