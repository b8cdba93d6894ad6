"""Backing up the workspace volume while the stack runs, and restoring it elsewhere.

The stack runs in the background (``make stack-up``); projects are created and
uploads ingested while ``scripts/backup-workspace.sh`` copies the volume; the copy
is restored into new folders with ``scripts/restore-workspace.sh`` and a fresh
controller must find every project ready and every repository clean.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
from helpers import assert_clean_repository, wait_for

from auteur.names import project_id
from auteur.uploads import UploadState
from tests.stack.stackrun import ROOT, StackRun


class Activity(threading.Thread):
    """Creates projects and uploads into them until stopped: commits land all the time."""

    def __init__(self, run: StackRun) -> None:
        super().__init__(daemon=True)
        self.run_, self.stopping = run, threading.Event()
        self.created = 0
        self.errors: list[str] = []

    def run(self) -> None:
        n = 0
        while not self.stopping.is_set():
            try:
                self.run_.create(f"live-{n}", replica=n % 2)
                self.run_.upload(f"live-{n}", "cue.wav", os.urandom(400_000), replica=(n + 1) % 2)
                self.created = n = n + 1
            except (AssertionError, httpx.HTTPError) as exc:
                self.errors.append(str(exc))
                return


def test_a_backup_taken_while_the_stack_runs_restores_into_a_working_workspace(tmp_path, redis_server):
    run = StackRun(tmp_path, redis_server.url).up()
    before = {}
    for n in range(3):
        run.create(f"kept {n}")
        data = os.urandom(1 << 20)
        upload = run.upload(f"kept-{n}", "take.wav", data)
        before[f"kept {n}"] = (upload["upload_id"], data)
    wait_for(lambda: all(run.record(u).status is UploadState.COMPLETED for u, _ in before.values()), 60, 0.1, what="uploads ingested")

    activity = Activity(run)
    activity.start()
    try:
        wait_for(lambda: activity.created >= 2 or activity.errors, 60, 0.1, what="activity under way")
        backup = tmp_path / "backup"
        subprocess.run([str(ROOT / "scripts/backup-workspace.sh"), str(run.workspace), str(run.specs), str(backup)], check=True)
        assert activity.is_alive(), f"the backup must run while projects and commits are being made: {activity.errors}"
    finally:
        activity.stopping.set()
        activity.join(60)
    assert not activity.errors, activity.errors
    out = run.down()
    assert "stack stopped" in out
    stopping = [line.split()[-1] for line in run.text().splitlines() if line.startswith("[stack] stopping ")]
    assert stopping == ["frontend", "backend-2", "backend", "worker", "controller"], stopping  # dependents first

    restored, specs = tmp_path / "restored" / "workspace", tmp_path / "restored" / "specs"
    subprocess.run([str(ROOT / "scripts/restore-workspace.sh"), str(backup), str(restored), str(specs)], check=True)
    names = sorted(path.stem for path in specs.glob("*.yaml"))
    assert {"kept 0", "kept 1", "kept 2", "live-0"} <= set(names)
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env.update(AUTEUR_WORKSPACE=str(restored), AUTEUR_SPECS=str(specs), AUTEUR_SETTLE_SECONDS="0.3", AUTEUR_GRACE_SECONDS="0.3")
    started = time.time()
    with open(tmp_path / "restored-controller.log", "wb") as log:
        controller = subprocess.Popen([sys.executable, "-m", "controller", "run"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        statuses = [restored / ".auteur" / "status" / f"{project_id(name)}.json" for name in names]
        # Restored files are new inodes: the controller reconciles every project again, and must find it whole.
        wait_for(lambda: all(reconciled_ready(path, since=started) for path in statuses), 90, 0.2, what="every restored project ready")
    finally:
        controller.send_signal(signal.SIGTERM)
        assert controller.wait(60) == 0
    for name in names:
        assert_clean_repository(restored / name)
    for name, (_upload, data) in before.items():
        assert (restored / name / "assets/audio/take.wav").read_bytes() == data
    assert not list((restored / ".auteur" / "trash").glob("*")), "the restore sent nothing to the trash"


def reconciled_ready(path: Path, since: float) -> bool:
    try:
        status = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return False
    return status["status"] == "ready" and not status["is_dirty"] and (status.get("last_reconcile") or 0) >= since
