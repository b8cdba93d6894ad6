"""``auteur.heartbeat``: the struct every heartbeat reader decodes, and the freshness rule they share."""

from __future__ import annotations

import json

import msgspec
import pytest

from auteur import heartbeat
from auteur.heartbeat import Heartbeat, worker_max_age


def test_a_beat_survives_the_round_trip_and_reads_what_older_writers_wrote(tmp_path):
    beat = Heartbeat(at=1000.5, pid=42, queue=3, active=1, resyncs=7, resync_last_seconds=0.25, reconciles=9, watches=12)
    assert heartbeat.decode(heartbeat.encode(beat)) == beat
    # a writer with fewer fields, or more (another version during an upgrade)
    assert heartbeat.decode(b'{"at": 5, "pid": 1, "queue": 0}') == Heartbeat(at=5.0, pid=1)
    assert heartbeat.decode(json.dumps({"at": 5, "future_field": True}).encode()).at == 5.0


@pytest.mark.parametrize("data", [b"", b'{"pid": 1, "at":', b'{"pid": 1}', b'{"at": "soon"}', b"[]"])
def test_a_torn_or_foreign_file_is_no_heartbeat(tmp_path, data):
    path = tmp_path / "heartbeat.json"
    path.write_bytes(data)
    assert heartbeat.read(path) is None
    with pytest.raises((msgspec.DecodeError, msgspec.ValidationError)):
        heartbeat.decode(data)


def test_a_missing_file_is_no_heartbeat(tmp_path):
    assert heartbeat.read(tmp_path / "heartbeat.json") is None


@pytest.mark.parametrize(
    ("age", "fresh"),
    [(0.0, True), (14.9, True), (15.0, True), (15.1, False), (-15.0, True), (-15.1, False)],
)
def test_fresh_within_max_age_either_way_of_now(age, fresh):
    """Old beats are stale; so are beats from far in the future (a clock jump)."""
    beat = Heartbeat(at=1000.0)
    assert beat.age(1000.0 + age) == pytest.approx(age)
    assert beat.is_fresh(1000.0 + age, 15.0) is fresh


def test_a_worker_may_miss_three_beats_and_a_few_seconds():
    assert worker_max_age(10) == 35 and worker_max_age(1) == 8
