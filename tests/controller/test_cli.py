"""The command line behind the make targets, run as a user would run it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import assert_clean_repository

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def cli(tmp_path):
    env = dict(os.environ, AUTEUR_SPECS=str(tmp_path / "specs"), AUTEUR_WORKSPACE=str(tmp_path / "workspace"),
               PYTHONPATH=str(ROOT), AUTEUR_GRACE_SECONDS="0.2")  # fmt: skip

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([sys.executable, "-m", "controller", *args], cwd=ROOT, env=env, capture_output=True, text=True)
        if check and result.returncode != 0:
            raise AssertionError(f"auteur {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
        return result

    return run


def test_project_lifecycle_without_a_running_controller(cli, tmp_path):
    assert "Workspace initialized" in cli("init").stdout
    out = cli("create", "Night Shoot", "--quality", "premium").stdout
    assert "Project created" in out
    root = tmp_path / "workspace" / "Night Shoot"
    assert_clean_repository(root)
    assert (tmp_path / "specs" / "Night Shoot.yaml").is_file()
    table = cli("list").stdout
    assert "Night Shoot" in table and "night-shoot" in table and "premium" in table and "ready" in table
    dup = cli("create", "night shoot", check=False)
    assert dup.returncode == 1 and "already exists" in dup.stderr
    bad = cli("create", "bad/name", check=False)
    assert bad.returncode == 2 and "Invalid" in bad.stderr
    assert "Project deleted" in cli("delete", "Night Shoot").stdout
    assert not root.exists() and not (tmp_path / "specs" / "Night Shoot.yaml").exists()
    assert "night-shoot" in cli("trash").stdout
    assert "Project restored" in cli("restore", "Night Shoot").stdout
    assert_clean_repository(root)
    assert "ready" in cli("list").stdout
    cli("delete", "Night Shoot")
    assert "Purged" in cli("purge", "Night Shoot").stdout
    assert cli("trash").stdout == ""


def test_reconcile_reports_failures_with_exit_status_1(cli, tmp_path):
    specs = tmp_path / "specs"
    specs.mkdir()
    for i in range(25):
        (specs / f"p{i}.yaml").write_text(f"name: p{i}\n")
    (specs / "broken.yaml").write_text("name: broken\nqualty: draft\n")
    result = cli("reconcile", check=False)
    assert result.returncode == 1
    assert "26 project(s): 25 ok, 1 failed" in result.stdout
    assert "broken" in result.stdout and "qualty" in result.stdout
    assert "reconciling [" in result.stderr  # progress on many projects
    (specs / "broken.yaml").write_text("name: broken\n")
    assert cli("reconcile", "broken").returncode == 0


def test_list_flags_unmanaged_folders(cli, tmp_path):
    (tmp_path / "workspace" / "Foreign").mkdir(parents=True)
    cli("reconcile")
    assert "UNMANAGED" in cli("list").stdout


def test_health_follows_the_heartbeat(cli, tmp_path):
    state = tmp_path / "workspace" / ".auteur"
    missing = cli("health", check=False)
    assert missing.returncode == 1 and "no heartbeat" in missing.stderr
    state.mkdir(parents=True)
    import json
    import time

    (state / "heartbeat.json").write_text(json.dumps({"pid": 1, "at": time.time() - 100, "queue": 0}))
    stale = cli("health", check=False)
    assert stale.returncode == 1 and "old" in stale.stderr
    (state / "heartbeat.json").write_text(json.dumps({"pid": 1, "at": time.time(), "queue": 0}))
    assert "running" in cli("health").stdout


def test_a_bad_setting_is_named_and_nothing_runs(tmp_path):
    env = dict(os.environ, AUTEUR_SPECS=str(tmp_path / "specs"), AUTEUR_WORKSPACE=str(tmp_path / "workspace"),
               PYTHONPATH=str(ROOT), AUTEUR_RESYNC_SECONDS="every minute")  # fmt: skip
    result = subprocess.run([sys.executable, "-m", "controller", "init"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip() == "auteur: AUTEUR_RESYNC_SECONDS='every minute': Expected `float`, got `str`"
    assert not (tmp_path / "workspace").exists()


def test_a_suspended_project_is_left_alone_until_resumed(cli, tmp_path):
    """``auteur suspend`` edits the spec; the controller then neither commits nor repairs, and
    ``auteur resume`` converges at once (judged with the real git)."""
    cli("init")
    cli("create", "Paused Film")
    root, spec = tmp_path / "workspace" / "Paused Film", tmp_path / "specs" / "Paused Film.yaml"
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True).stdout.strip()
    assert "Project suspended" in cli("suspend", "Paused Film").stdout
    assert "suspend: true" in spec.read_text()
    (root / "assets" / "audio" / "take.wav").write_bytes(b"RIFF" + bytes(1000))
    os.utime(root / "assets" / "audio" / "take.wav", (1, 1))  # settled long ago
    (root / ".gitignore").unlink()
    reconciled = cli("reconcile", "Paused Film").stdout
    assert "suspended" in cli("list").stdout, reconciled
    status = (tmp_path / "workspace" / ".auteur" / "status" / "paused-film.json").read_text()
    assert '"status":"suspended"' in status and '"type":"Suspended"' in status
    now = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True).stdout.strip()
    assert now == head and not (root / ".gitignore").exists()  # nothing committed, nothing repaired
    out = cli("resume", "Paused Film").stdout
    assert "Project resumed" in out and "suspend" not in spec.read_text()
    assert (root / ".gitignore").is_file()
    log = subprocess.run(["git", "log", "--name-only", "--format="], cwd=root, capture_output=True, text=True, check=True).stdout
    assert "assets/audio/take.wav" in log
    assert '"type":"Suspended"' not in (tmp_path / "workspace" / ".auteur" / "status" / "paused-film.json").read_text()
    assert_clean_repository(root)


def test_reconcile_says_what_is_pending_and_waits_it_out_when_asked(cli, tmp_path):
    cli("init")
    cli("create", "Film Three")
    (tmp_path / "specs" / "Film Three.yaml").unlink()
    first = cli("reconcile").stdout
    assert "1 pending" in first and "film-three: spec removed; moves to the trash in" in first and "WAIT=1" in first
    assert (tmp_path / "workspace" / "Film Three").is_dir()  # the grace period is not over
    waited = cli("reconcile", "--wait").stdout
    assert "Reconciled 1 project(s): 1 ok, 0 failed" in waited, waited
    assert not (tmp_path / "workspace" / "Film Three").exists()
    assert [p.name.split(".")[0] for p in (tmp_path / "workspace" / ".auteur" / "trash").iterdir() if p.is_dir()] == ["film-three"]
