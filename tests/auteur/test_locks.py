"""auteur.locks: the one flock helper (the specs lock, project locks, leadership)."""

from __future__ import annotations

import os
import subprocess
import sys

from auteur.locks import hold_lock, try_lock


def test_a_held_lock_excludes_others_until_the_block_ends(tmp_path):
    path = tmp_path / "new" / "folder" / "x.lock"  # folders made on first use
    with hold_lock(path) as fd:
        os.pwrite(fd, b"busy", 0)
        assert try_lock(path) is None
    other = try_lock(path)
    assert other is not None and os.pread(other, 4, 0) == b"busy"
    probe = "import pathlib, sys; from auteur.locks import try_lock; sys.exit(3 if try_lock(pathlib.Path(sys.argv[1])) is None else 0)"
    try:
        assert subprocess.run([sys.executable, "-c", probe, str(path)], timeout=60, check=False).returncode == 3
    finally:
        os.close(other)
    assert subprocess.run([sys.executable, "-c", probe, str(path)], timeout=60, check=False).returncode == 0


def test_the_lock_goes_with_a_killed_process(tmp_path):
    path = tmp_path / "x.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, pathlib; from auteur.locks import try_lock; fd = try_lock(pathlib.Path(sys.argv[1])); "
         "print('held' if fd is not None else 'busy', flush=True); sys.stdin.read()", str(path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        assert try_lock(path) is None
    finally:
        holder.kill()
        holder.wait(60)
    fd = try_lock(path)
    assert fd is not None
    os.close(fd)
