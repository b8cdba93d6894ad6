"""The known-oids hook: what an ingest hands the reconciler is committed at once, unhashed."""

from __future__ import annotations

import hashlib
import os

import pytest
from helpers import drop_file, git, write_spec

from controller import lfs
from controller.reconciling import Reconciler


@pytest.fixture
def project(settings, clock):
    write_spec(settings, "film.yaml", "name: film\n")
    rec = Reconciler(settings, clock=clock)
    assert rec.reconcile("film").kind == "done"
    return rec, settings.workspace / "film"


def test_a_fresh_file_waits_to_settle_without_a_known_oid(project, clock):
    rec, root = project
    drop_file(root / "assets/audio/take.wav", os.urandom(4096), mtime=clock.now)
    outcome = rec.reconcile("film")
    assert outcome.kind == "requeue"
    assert rec.status_of("film").pending_files == ["assets/audio/take.wav"]


def test_a_known_oid_is_committed_at_once_and_never_hashed(project, clock, judge, monkeypatch):
    rec, root = project
    data = os.urandom(3 << 20)
    oid = hashlib.sha256(data).hexdigest()
    drop_file(root / "assets/audio/take.wav", data, mtime=clock.now)

    def no_hashing(*args: object) -> str:
        raise AssertionError("a known oid was hashed again")

    monkeypatch.setattr(lfs, "_copy_and_hash", no_hashing)
    outcome = rec.reconcile("film", known_oids={"assets/audio/take.wav": oid})
    monkeypatch.undo()
    assert outcome.kind == "done"
    status = rec.status_of("film")
    assert status.pending_files == [] and not status.is_dirty
    assert f"oid sha256:{oid}\nsize {len(data)}\n" in git(root, "show", "HEAD:assets/audio/take.wav")
    assert lfs.object_path(root / ".git", oid).read_bytes() == data
    judge(root)
