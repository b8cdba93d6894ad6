"""The events WebSocket end to end: real uvicorn, a real WebSocket client, the real journal."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from websockets.sync.client import ClientConnection, connect

import auteur.events
from auteur.bus import LocalBus, Subscription
from auteur.events import Event, IdMaker, Journal, id_key
from tests.api.conftest import RunningStack, wait_for

ROOT = Path(__file__).resolve().parents[2]


def ws_url(stack, since: str | None = None) -> str:
    url = stack.api_url.replace("http://", "ws://") + "/api/v1/events"
    return f"{url}?since={since}" if since is not None else url


def receive(ws: ClientConnection, timeout: float = 30.0) -> dict:
    """The next frame that is not a keepalive."""
    deadline = time.monotonic() + timeout
    while True:
        frame = json.loads(ws.recv(timeout=max(0.01, deadline - time.monotonic())))
        if frame["type"] != "keepalive":
            return frame


def receive_until(ws: ClientConnection, predicate, timeout: float = 30.0) -> list[dict]:
    """Frames up to and including the first one matching ``predicate``."""
    deadline = time.monotonic() + timeout
    frames: list[dict] = []
    while True:
        frames.append(receive(ws, max(0.01, deadline - time.monotonic())))
        if predicate(frames[-1]):
            return frames


def is_ready(project_id: str):
    return lambda f: f["type"].startswith("project.") and f["project"]["id"] == project_id and f["project"]["status"] == "ready"


def drop_spec(settings, name: str) -> None:
    settings.specs.mkdir(parents=True, exist_ok=True)
    tmp = settings.specs / f".{name}.tmp"
    tmp.write_text(f"name: {name}\n")
    os.rename(tmp, settings.specs / f"{name}.yaml")


def journaled_ready(settings, *project_ids: str) -> bool:
    """Whether the journal holds a ``ready`` event for each project (the status file is written just before)."""
    ready = {e.project.get("id") for e in Journal(settings.state).since("0-0")[1] if e.project.get("status") == "ready"}
    return ready.issuperset(project_ids)


def journal_after(settings, since: str) -> list[str]:
    complete, events = Journal(settings.state).since(since)
    assert complete
    return [e.id for e in events]


def assert_ordered_unique(ids: list[str]) -> None:
    keys = [id_key(i) for i in ids]
    assert keys == sorted(keys), f"out of order: {ids}"
    assert len(set(ids)) == len(ids), f"duplicates: {ids}"


def test_a_hand_dropped_spec_is_pushed_live(stack):
    with connect(ws_url(stack)) as ws:
        drop_spec(stack.settings, "live-film")
        frames = receive_until(ws, is_ready("live-film"))
    kinds = [f["type"] for f in frames]
    assert kinds[0] == "project.created" and frames[0]["project"]["id"] == "live-film"
    assert set(kinds) <= {"project.created", "project.updated"}, kinds
    assert all(f["id"] and f["at"] > 0 for f in frames)
    assert_ordered_unique([f["id"] for f in frames])


def test_since_replays_exactly_the_events_after_that_id(stack):
    names = [f"film-{i}" for i in range(5)]
    for name in names:
        drop_spec(stack.settings, name)
    wait_for(lambda: journaled_ready(stack.settings, *names), what="five ready projects")
    everything = journal_after(stack.settings, "0-0")
    assert len(everything) >= 5
    since = everything[1]
    expected = journal_after(stack.settings, since)
    with connect(ws_url(stack, since)) as ws:
        replayed = [receive(ws, 10)["id"] for _ in expected]
        assert replayed == expected
        # Then live, with nothing replayed twice.
        drop_spec(stack.settings, "fourth")
        live = receive_until(ws, is_ready("fourth"))
    assert any(f["type"] == "project.created" and f["project"]["id"] == "fourth" for f in live)
    ids = replayed + [f["id"] for f in live]
    assert len(set(ids)) == len(ids)
    assert all(id_key(f["id"]) > id_key(replayed[-1]) for f in live)


def test_a_since_that_is_newest_replays_nothing_and_goes_live(stack):
    drop_spec(stack.settings, "alpha")
    wait_for(lambda: journaled_ready(stack.settings, "alpha"), what="alpha ready")
    last = Journal(stack.settings.state).last_id()
    assert last is not None
    with connect(ws_url(stack, last)) as ws:
        drop_spec(stack.settings, "beta")
        frames = receive_until(ws, is_ready("beta"))
    assert any(f["type"] == "project.created" and f["project"]["id"] == "beta" for f in frames)
    assert all(id_key(f["id"]) > id_key(last) for f in frames), (last, frames)


def test_resume_with_since_across_an_api_restart(api_settings):
    with RunningStack(api_settings) as stack, connect(ws_url(stack)) as ws:
        drop_spec(api_settings, "before-restart")
        seen = receive_until(ws, is_ready("before-restart"))
    last_seen = seen[-1]["id"]
    # While the API is down, the CLI reconciles new work: its events only reach the journal.
    drop_spec(api_settings, "while-down")
    env = dict(os.environ, AUTEUR_SPECS=str(api_settings.specs), AUTEUR_WORKSPACE=str(api_settings.workspace), PYTHONPATH=str(ROOT))
    subprocess.run([sys.executable, "-m", "controller", "reconcile", "while-down"], env=env, check=True, capture_output=True, timeout=120)
    missed = journal_after(api_settings, last_seen)
    assert missed, "the CLI journaled nothing"
    with RunningStack(api_settings) as stack, connect(ws_url(stack, last_seen)) as ws:
        replayed = [receive(ws, 10) for _ in missed]
        assert [f["id"] for f in replayed] == missed
        assert replayed[0]["type"] == "project.created" and replayed[0]["project"]["id"] == "while-down"
        drop_spec(api_settings, "after-restart")
        live = receive_until(ws, is_ready("after-restart"))
    ids = [f["id"] for f in replayed + live]
    assert len(set(ids)) == len(ids) and id_key(live[0]["id"]) > id_key(missed[-1])


def test_a_too_old_or_malformed_since_gets_resync_then_live(api_settings, monkeypatch):
    # A journal whose oldest segments were trimmed away.
    monkeypatch.setattr(auteur.events, "SEGMENT_EVENTS", 3)
    monkeypatch.setattr(auteur.events, "KEEP_SEGMENTS", 2)
    journal = Journal(api_settings.state)
    first = journal.append("test.event", {"id": "old"}).id
    for i in range(20):
        journal.append("test.event", {"id": f"old-{i}"})
    journal.close()
    assert not Journal(api_settings.state).since(first)[0]
    with RunningStack(api_settings) as stack:
        for n, since in enumerate((first, "not-an-id")):
            with connect(ws_url(stack, since)) as ws:
                resync = receive(ws, 10)
                assert resync["type"] == "resync", resync
                assert resync["id"] == Journal(api_settings.state).last_id()
                drop_spec(api_settings, f"fresh-{n}")
                frames = receive_until(ws, is_ready(f"fresh-{n}"))
            assert frames[0]["type"] == "project.created" and frames[0]["project"]["id"] == f"fresh-{n}"


class TinyBus(LocalBus):
    """A bus whose subscriptions hold 5 events, and a way to publish a burst in one go."""

    def subscribe(self) -> Subscription:
        sub = Subscription(self, asyncio.get_running_loop(), limit=5)
        with self._lock:
            self._subs.add(sub)
        self.loop = sub.loop
        return sub

    def burst(self, events: list[Event]) -> None:
        # All offers run back to back on the loop, before the WebSocket task can drain any.
        self.loop.call_soon_threadsafe(lambda: [self.publish(e) for e in events])


def test_a_slow_consumer_gets_resync_and_a_new_subscription(api_settings):
    bus = TinyBus()
    ids = IdMaker(lambda: time.time() + 3600)  # after anything the journal holds
    with RunningStack(api_settings, bus=bus) as stack, connect(ws_url(stack)) as ws:
        wait_for(lambda: len(bus._subs) >= 2, what="the socket's subscription")  # the index has one too
        bus.burst([Event(id=ids(), type="test.burst", at=time.time()) for _ in range(50)])
        frames = receive_until(ws, lambda f: f["type"] == "resync", timeout=10)
        assert len(frames) <= 6
        assert frames[-1]["data"]["reason"] == "slow consumer"
        # The new subscription exists before the resync is sent: the next event arrives.
        bus.publish(Event(id=ids(), type="test.after", at=time.time()))
        assert receive(ws, 10)["type"] == "test.after"


class RacingBus(LocalBus):
    """Each new subscription already holds the journal's events, as if they were published
    between the subscribe and the replay: the socket must not send them twice."""

    def __init__(self, settings) -> None:
        super().__init__()
        self.settings = settings

    def subscribe(self) -> Subscription:
        sub = super().subscribe()
        for event in Journal(self.settings.state).since("0-0")[1]:
            sub._offer(event)
        return sub


def test_events_both_replayed_and_live_are_sent_once(api_settings):
    bus = RacingBus(api_settings)
    with RunningStack(api_settings, bus=bus) as stack:
        for name in ("one", "two", "three"):
            drop_spec(api_settings, name)
        wait_for(lambda: journaled_ready(api_settings, "one", "two", "three"), what="three ready projects")
        everything = journal_after(api_settings, "0-0")
        with connect(ws_url(stack, everything[0])) as ws:
            replayed = [receive(ws, 10)["id"] for _ in everything[1:]]
            # Events from other id makers (an upload's progress) are never taken for replayed ones.
            progress = Event(id="1-0", type="upload.progress", project={"id": "one"}, at=time.time())
            marker = Event(id=IdMaker(lambda: time.time() + 3600)(), type="test.marker", at=time.time())
            bus.publish(progress)
            bus.publish(marker)
            assert [receive(ws, 10)["id"], receive(ws, 10)["id"]] == [progress.id, marker.id]
    assert replayed == everything[1:]


def test_keepalive_frames_while_idle(stack):
    stack.config.events_keepalive = 0.1
    with connect(ws_url(stack)) as ws:
        frame = json.loads(ws.recv(timeout=10))
    assert frame["type"] == "keepalive" and frame["id"] == ""


def test_a_closed_socket_is_let_go(stack, client):
    def clients() -> float:
        for line in client.get("/metrics").text.splitlines():
            if line.startswith("auteur_api_websocket_clients "):
                return float(line.split()[1])
        raise AssertionError("no websocket gauge")

    before = clients()
    with connect(ws_url(stack)):
        wait_for(lambda: clients() == before + 1, what="the gauge to count the client")
    wait_for(lambda: clients() == before, what="the gauge to let the client go")


@pytest.mark.parametrize("since", ["", "0-0"])
def test_since_from_the_start_replays_the_whole_journal(stack, since):
    drop_spec(stack.settings, "whole")
    wait_for(lambda: journaled_ready(stack.settings, "whole"), what="ready")
    expected = journal_after(stack.settings, "0-0") if since else []
    with connect(ws_url(stack, since)) as ws:
        got = [receive(ws, 10)["id"] for _ in expected]
        assert got == expected
        drop_spec(stack.settings, "later")
        frames = receive_until(ws, is_ready("later"))
    assert not set(expected) & {f["id"] for f in frames}
