"""Fixtures for the API tests: the embedded stack on a free port, driven over real HTTP."""

from __future__ import annotations

import httpx
import pytest
from helpers import RunningStack, wait_for  # noqa: F401 - re-exported for the API tests
from prometheus_client.parser import text_string_to_metric_families

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


def metric_value(client: httpx.Client, sample: str, **labels: str) -> float | None:
    """The value of one sample of ``/metrics`` (``auteur_uploads_total``, ``result="stored"``),
    parsed as Prometheus does; None when the API does not report it."""
    for family in text_string_to_metric_families(client.get("/metrics").text):
        for s in family.samples:
            if s.name == sample and s.labels == labels:
                return s.value
    return None
