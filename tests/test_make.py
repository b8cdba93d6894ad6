"""The make targets a person types, run through make itself."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from helpers import assert_clean_repository

ROOT = Path(__file__).resolve().parents[1]


def make(tmp_path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, AUTEUR_SPECS=str(tmp_path / "specs"), AUTEUR_WORKSPACE=str(tmp_path / "workspace"), AUTEUR_GRACE_SECONDS="0.2")
    env.pop("MAKEFLAGS", None)
    result = subprocess.run(["make", "-s", "-C", str(ROOT), *args], env=env, capture_output=True, text=True, timeout=300)
    if check and result.returncode != 0:
        raise AssertionError(f"make {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result


def test_project_targets(tmp_path):
    assert "Workspace initialized" in make(tmp_path, "workspace-init").stdout
    assert "Project created" in make(tmp_path, "project-create", "NAME=Short Film", "QUALITY=draft").stdout
    assert_clean_repository(tmp_path / "workspace" / "Short Film")
    listing = make(tmp_path, "project-list").stdout
    assert "Short Film" in listing and "draft" in listing and "ready" in listing
    assert "1 project(s): 1 ok, 0 failed" in make(tmp_path, "reconcile").stdout
    assert "Project deleted" in make(tmp_path, "project-delete", "NAME=Short Film").stdout
    assert "Project restored" in make(tmp_path, "project-restore", "NAME=Short Film").stdout
    make(tmp_path, "project-delete", "NAME=Short Film")
    assert "Purged" in make(tmp_path, "project-purge", "NAME=Short Film").stdout
    usage = make(tmp_path, "project-create", check=False)
    assert usage.returncode != 0 and "usage: make project-create NAME=" in usage.stdout


def test_reconcile_dry_run_exits_0_with_nothing_to_do_and_non_zero_with_changes(tmp_path):
    make(tmp_path, "workspace-init")
    make(tmp_path, "project-create", "NAME=Dry Run")
    assert "dry-run (Dry Run): up to date" in make(tmp_path, "reconcile", "DRY_RUN=1").stdout
    edits = tmp_path / "workspace" / "Dry Run" / "outputs" / "edits"
    shutil.rmtree(edits)
    drifted = make(tmp_path, "reconcile", "DRY_RUN=1", "NAME=Dry Run", check=False)
    assert drifted.returncode != 0 and "  create the folder outputs/edits/" in drifted.stdout, drifted.stdout + drifted.stderr
    assert not edits.exists()
    assert "1 project(s): 1 ok, 0 failed" in make(tmp_path, "reconcile", "NAME=Dry Run").stdout
    assert edits.is_dir() and "dry-run (Dry Run): up to date" in make(tmp_path, "reconcile", "DRY_RUN=1").stdout
