"""Fixtures for the operations tests: settings for an embedded stack on scratch folders."""

from __future__ import annotations

import pytest

from auteur.settings import Settings


@pytest.fixture
def api_settings(tmp_path):
    return Settings(specs=tmp_path / "specs", workspace=tmp_path / "workspace", settle_seconds=0.3, grace_seconds=0.3, resync_seconds=3600)
