"""Fixtures for the API tests: the embedded stack on a free port, driven over real HTTP."""

from __future__ import annotations

import httpx
import pytest
from helpers import RunningStack, wait_for  # noqa: F401 - re-exported for the API tests
from prometheus_client.parser import text_string_to_metric_families

from auteur.bus import LocalBus
from auteur.identity import Actor, Role
from auteur.settings import Settings


@pytest.fixture
def api_settings(tmp_path):
    return Settings(
        specs=tmp_path / "specs",
        workspace=tmp_path / "workspace",
        settle_seconds=0.3,
        grace_seconds=0.3,
        resync_seconds=3600,
        # No background integrity pass: its cursor and results would land on the volume at any
        # moment, and these tests assert that a request changes nothing there. The pass has its
        # own tests (tests/controller/test_integrity.py, tests/web/test_project_page.py).
        integrity_interval_seconds=0,
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


class ActAs:
    """Stands in for the auth layer (``api.auth``), which sets ``req.context.actor``: a request
    with ``X-Test-Actor: <name>`` is that person's; one without is nobody's, as with auth off."""

    async def process_request(self, req, resp) -> None:
        name = req.get_header("X-Test-Actor")
        if name is not None:
            req.context.actor = Actor(name=name, role=Role.ADMIN)


class RecordingBus(LocalBus):
    """The stack's bus, keeping every event published on it: the controller's journal, and the API's own."""

    def __init__(self) -> None:
        super().__init__()
        self.events = []

    def publish(self, event) -> None:
        self.events.append(event)
        super().publish(event)

    def of(self, kind: str, project: str | None = None) -> list:
        return [e for e in self.events if e.type == kind and project in (None, e.project.get("id"))]


@pytest.fixture
def acting(api_settings):
    """The embedded stack whose API believes ``X-Test-Actor``, with a recording bus, and a client of it."""
    bus = RecordingBus()
    running = RunningStack(api_settings, bus=bus)
    running.stack.app.add_middleware(ActAs())
    with running as stack, httpx.Client(base_url=stack.api_url, timeout=60) as http:
        yield stack, http, bus


def as_(name: str) -> dict[str, str]:
    """The headers of a request made by ``name``."""
    return {"X-Test-Actor": name}
