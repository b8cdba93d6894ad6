"""The control loop (``controller.running`` and the modules it composes) end to end: watches, queue, resync, leadership, crashes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import anyio
import pytest
from helpers import assert_clean_repository, wait_for, write_spec

from auteur.settings import Settings
from auteur.status import Phase, StatusStore
from controller.running import Controller, run_controller

ROOT = Path(__file__).resolve().parents[2]


class Running:
    def __init__(self, settings: Settings) -> None:
        self.controller = Controller(settings)
        self.thread = threading.Thread(target=anyio.run, args=(run_controller, self.controller), daemon=True)

    def __enter__(self):
        self.thread.start()
        return self.controller

    def __exit__(self, *exc):
        self.controller.request_stop()
        self.thread.join(30)
        assert not self.thread.is_alive()


def status_of(settings, key):
    return StatusStore(settings.state).read(key)


def ready(settings, key):
    status = status_of(settings, key)
    return status is not None and status.status is Phase.READY and status


@pytest.fixture
def fast(tmp_path):
    return Settings(specs=tmp_path / "specs", workspace=tmp_path / "workspace", settle_seconds=0.3, grace_seconds=0.5,
                    resync_seconds=3600)  # fmt: skip


def test_dropped_spec_converges_and_edits_follow(fast):
    with Running(fast) as controller:
        wait_for(lambda: controller.started.is_set(), what="start")
        write_spec(fast, "live.yaml", "name: live\n")
        wait_for(lambda: ready(fast, "live"), what="live ready")
        write_spec(fast, "live.yaml", "name: live\nquality: premium\n")
        wait_for(lambda: (s := ready(fast, "live")) and s.quality == "premium", what="quality change")
        media = fast.workspace / "live" / "assets" / "audio" / "take.wav"
        media.write_bytes(os.urandom(100_000))
        wait_for(lambda: (s := ready(fast, "live")) and s.lfs_files == 1 and not s.is_dirty, what="media snapshot")
        assert_clean_repository(fast.workspace / "live")
        (fast.specs / "live.yaml").unlink()
        wait_for(lambda: not (fast.workspace / "live").exists(), what="folder trashed")
        wait_for(lambda: status_of(fast, "live") is None, what="status forgotten")  # right after the move
        assert controller.metrics.reconcile_total["success"] >= 3


def test_resync_heals_drift_without_events(fast):
    fast.resync_seconds = 0.5
    with Running(fast) as controller:
        write_spec(fast, "drift.yaml", "name: drift\n")
        wait_for(lambda: ready(fast, "drift"), what="ready")
        # project.json is outside the watched trees: only the resync sees this
        (fast.workspace / "drift" / "project.json").write_text("{}")
        wait_for(lambda: b'"name": "drift"' in (fast.workspace / "drift" / "project.json").read_bytes(), what="healed")
        assert controller.metrics.resyncs_total >= 2


def test_two_controllers_one_active_one_standby(fast):
    first, second = Running(fast), Running(fast)
    with first as a:
        wait_for(lambda: a.started.is_set(), what="first active")
        with second as b:
            wait_for(b.standby.is_set, what="second in standby: it tried the lock and was refused")
            assert a.is_leader and not b.is_leader
            write_spec(fast, "solo.yaml", "name: solo\n")
            wait_for(lambda: ready(fast, "solo"), what="ready")
            assert b.metrics.reconcile_total["success"] == 0
            a.request_stop()
            first.thread.join(30)
            wait_for(lambda: b.is_leader, what="standby takes over")
            write_spec(fast, "after.yaml", "name: after\n")
            wait_for(lambda: ready(fast, "after"), what="ready after takeover")


def _spawn(env, log: Path):
    # Output goes to a file: a pipe that nobody reads would block the controller once full.
    with open(log, "ab") as handle:
        return subprocess.Popen(
            [sys.executable, "-m", "controller", "-v", "run"], cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT
        )


def _not_ready(store: StatusStore, names: list[str]) -> str:
    ready = {s.id for s in store.read_all() if s.status is Phase.READY}
    missing = [n for n in names if n not in ready]
    return f"{len(missing)} not ready, e.g. {[(n, store.read(n)) for n in missing[:3]]}"


@pytest.mark.slow
def test_kill_9_mid_way_through_200_projects_then_restart_converges_all(tmp_path):
    env = dict(os.environ, AUTEUR_SPECS=str(tmp_path / "specs"), AUTEUR_WORKSPACE=str(tmp_path / "workspace"),
               PYTHONPATH=str(ROOT), AUTEUR_RESYNC_SECONDS="3600")  # fmt: skip
    specs = tmp_path / "specs"
    specs.mkdir()
    settings = Settings(specs=specs, workspace=tmp_path / "workspace")
    log = tmp_path / "controller.log"
    proc = _spawn(env, log)
    wait_for(lambda: (settings.state / "heartbeat.json").exists(), what="controller heartbeat")
    for i in range(200):
        (specs / f".film-{i:03d}.tmp").write_text(f"name: film-{i:03d}\n")
        os.rename(specs / f".film-{i:03d}.tmp", specs / f"film-{i:03d}.yaml")
    store = StatusStore(settings.state)
    wait_for(lambda: len([s for s in store.read_all() if s.status is Phase.READY]) >= 20, what="some ready")
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    done_before = len([s for s in store.read_all() if s.status is Phase.READY])
    assert done_before < 200, "the kill must land mid-way"
    proc = _spawn(env, log)
    names = [f"film-{i:03d}" for i in range(200)]
    try:
        wait_for(lambda: len([s for s in store.read_all() if s.status is Phase.READY]) == 200, timeout=180, what="all ready")
    except AssertionError:
        raise AssertionError(f"{_not_ready(store, names)}\n{log.read_text()[-5000:]}") from None
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    assert proc.returncode == 0, log.read_text()[-5000:]
    for i in range(200):
        root = settings.workspace / f"film-{i:03d}"
        assert_clean_repository(root)


def test_sigterm_finishes_in_flight_work_and_exits_cleanly(tmp_path):
    env = dict(os.environ, AUTEUR_SPECS=str(tmp_path / "specs"), AUTEUR_WORKSPACE=str(tmp_path / "workspace"), PYTHONPATH=str(ROOT))
    (tmp_path / "specs").mkdir()
    log = tmp_path / "controller.log"
    proc = _spawn(env, log)
    settings = Settings(specs=tmp_path / "specs", workspace=tmp_path / "workspace")
    wait_for(lambda: (settings.state / "heartbeat.json").exists(), what="heartbeat")
    for i in range(30):
        (tmp_path / "specs" / f"t{i}.yaml").write_text(f"name: t{i}\n")

    def projects() -> list[Path]:
        return [p for p in settings.workspace.iterdir() if not p.name.startswith(".")] if settings.workspace.is_dir() else []

    wait_for(projects, what="a reconcile under way (its folder made)")
    proc.send_signal(signal.SIGTERM)
    proc.wait(60)
    out = log.read_text()
    assert proc.returncode == 0, out
    assert "finishing in-flight work" in out and "controller stopped" in out
    # Every reconcile that had begun was finished: no folder is left half-made.
    statuses = {s.name: s for s in StatusStore(settings.state).read_all()}
    for folder in projects():
        status = statuses.get(folder.name)
        assert status is not None and status.status is Phase.READY, f"{folder.name} left half-made: {status}"
        assert_clean_repository(folder)


def test_restore_and_purge_requests_are_carried_out_by_the_running_controller(fast):
    from auteur import mailbox

    with Running(fast) as controller:
        wait_for(lambda: controller.started.is_set(), what="start")
        write_spec(fast, "Keep Me.yaml", "name: Keep Me\nquality: draft\n")
        wait_for(lambda: ready(fast, "keep-me"), what="ready")
        (fast.specs / "Keep Me.yaml").unlink()
        wait_for(lambda: not (fast.workspace / "Keep Me").exists(), what="trashed")
        request = mailbox.submit(fast.state, "restore", "keep-me")
        result = mailbox.wait_result(fast.state, request.id, 30)
        assert result is not None and result.ok, result
        status = wait_for(lambda: ready(fast, "keep-me"), what="ready after restore")
        assert status.quality == "draft" and (fast.specs / "Keep Me.yaml").is_file()
        assert_clean_repository(fast.workspace / "Keep Me")
        again = mailbox.wait_result(fast.state, mailbox.submit(fast.state, "restore", "keep-me").id, 30)
        assert again is not None and not again.ok and "nothing in the trash" in again.message
        (fast.specs / "Keep Me.yaml").unlink()
        wait_for(lambda: not (fast.workspace / "Keep Me").exists(), what="trashed again")
        purged = mailbox.wait_result(fast.state, mailbox.submit(fast.state, "purge", "Keep Me").id, 30)
        assert purged is not None and purged.ok
        assert controller.reconciler.trash.entries() == []
        assert not any((fast.state / "trash").iterdir())
