"""Shared helpers for the controller tests."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


def write_spec(settings, filename: str, body: str, *, mtime: float | None = None) -> Path:
    settings.specs.mkdir(parents=True, exist_ok=True)
    path = settings.specs / filename
    path.write_text(body, encoding="utf-8")
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def commit_count(root: Path) -> int:
    return int(git(root, "rev-list", "--count", "HEAD").strip())


def drop_file(path: Path, data: bytes, *, mtime: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.utime(path, (mtime, mtime))
    return path


def git(root: Path, *args: str, check: bool = True) -> str:
    result = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result.stdout


def assert_clean_repository(root: Path) -> None:
    """The real git and git-lfs judge the repository."""
    git(root, "fsck", "--strict", "--no-progress")
    status = git(root, "status", "--porcelain", "--untracked-files=no")
    assert status == "", f"git status not clean in {root}:\n{status}"
    git(root, "lfs", "fsck")


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.02, what: str = "condition"):
    """Poll until ``predicate()`` is truthy (generous deadlines: these machines are noisy)."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
