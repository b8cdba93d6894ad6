"""Backing up the workspace volume while the compose stack runs, and restoring it elsewhere.

Projects are created and uploads ingested through the stack while
``scripts/backup-workspace.sh`` copies the volume from inside a container of the stack (as
the README shows); the copy is restored into new folders with
``scripts/restore-workspace.sh`` and a fresh controller must find every project ready and
every repository clean.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from helpers import assert_clean_repository, wait_for

from auteur.names import project_id
from tests.container.dockerstack import ROOT, DockerStack, Load


def test_a_backup_taken_while_the_stack_runs_restores_into_a_working_workspace(stack: DockerStack, tmp_path):
    before = {}
    for n in range(3):
        name = f"Kept {os.urandom(3).hex()} {n}"
        stack.create(name)
        data = os.urandom(1 << 20)
        upload = stack.upload(project_id(name), "take.wav", data)
        before[name] = (upload["upload_id"], data)
    stack.wait_ingested([u for u, _ in before.values()])

    backups = tmp_path / "backups"
    backups.mkdir()
    os.chmod(backups, 0o777)  # written by the services' user inside the container
    load = Load(f"Live {os.urandom(3).hex()}")
    load.start()
    try:
        wait_for(lambda: len(load.uploads) >= 2 or load.errors, 60, 0.1, what="activity under way")
        stack.compose("run", "--rm", "-T", "--no-deps", "-v", f"{backups}:/backups", "controller",
                      "scripts/backup-workspace.sh", "/workspace", "/specs", "/backups/b")  # fmt: skip
        assert load.is_alive(), f"the backup must run while projects and commits are being made: {load.errors}"
    finally:
        load.stopping.set()
        load.join(60)
    assert not load.errors, load.errors
    trashed = set(stack.exec("worker", "ls", "/workspace/.auteur/trash").split())

    restored, specs = tmp_path / "restored" / "workspace", tmp_path / "restored" / "specs"
    subprocess.run([str(ROOT / "scripts/restore-workspace.sh"), str(backups / "b"), str(restored), str(specs)], check=True)
    names = sorted(path.stem for path in specs.glob("*.yaml"))
    assert set(before) | {load.created[0]} <= set(names)
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env.update(AUTEUR_WORKSPACE=str(restored), AUTEUR_SPECS=str(specs), AUTEUR_SETTLE_SECONDS="0.3", AUTEUR_GRACE_SECONDS="0.3")
    started = time.time()
    with open(tmp_path / "restored-controller.log", "wb") as log:
        controller = subprocess.Popen([sys.executable, "-m", "controller", "run"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        statuses = [restored / ".auteur" / "status" / f"{project_id(name)}.json" for name in names]
        # Restored files are new inodes: the controller reconciles every project again, and must find it whole.
        wait_for(lambda: all(reconciled_ready(path, since=started) for path in statuses), 120, 0.2, what="every restored project ready")
    finally:
        controller.send_signal(signal.SIGTERM)
        assert controller.wait(60) == 0
    # The restored files belong to the services' uid; the host's git, as root, is told they are fine.
    subprocess.run(["git", "config", "--global", "--add", "safe.directory", "*"], check=True)
    for name in names:
        assert_clean_repository(restored / name)
    for name, (_upload, data) in before.items():
        assert (restored / name / "assets/audio/take.wav").read_bytes() == data
    assert {p.name for p in (restored / ".auteur" / "trash").iterdir()} <= trashed, "the restore sent nothing to the trash"


def reconciled_ready(path: Path, since: float) -> bool:
    try:
        status = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return False
    return status["status"] == "ready" and not status["is_dirty"] and (status.get("last_reconcile") or 0) >= since
