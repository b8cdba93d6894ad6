"""auteur.gitindex: "is this file as committed?" from the index's stat data, for the controller and the API."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from dulwich.index import Index, index_entry_from_stat

from auteur.gitindex import recorded_entries, same_stat

SHA = b"0" * 40


def record(path: Path):
    """An index entry as the controller writes it: from the stat of the bytes it hashed."""
    st = os.lstat(path)
    return index_entry_from_stat(st, SHA, 0o100755 if st.st_mode & 0o100 else 0o100644)


def rewrite_same_size(path: Path) -> None:
    """New bytes, same size and mtime: only the ctime tells (the kernel's clock is
    coarse, so rewrite until it has moved on)."""
    st = os.lstat(path)
    deadline = time.monotonic() + 10
    while os.lstat(path).st_ctime_ns == st.st_ctime_ns and time.monotonic() < deadline:
        path.write_bytes(b"B" * st.st_size)
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


CHANGES = [
    ("untouched", lambda p: None, True),
    ("read only", lambda p: p.read_bytes(), True),
    ("appended", lambda p: p.write_bytes(p.read_bytes() + b"more"), False),
    ("new mtime", lambda p: os.utime(p, (1_000_000_000, 1_000_000_000)), False),
    ("same size and mtime, rewritten", rewrite_same_size, False),
    ("made executable", lambda p: p.chmod(0o755), False),
    ("replaced by another file", lambda p: (p.with_name("tmp").write_bytes(p.read_bytes()), os.replace(p.with_name("tmp"), p)), False),
]


@pytest.mark.parametrize(("what", "change", "committed"), CHANGES, ids=[c[0] for c in CHANGES])
def test_a_file_counts_as_committed_only_while_its_stat_is_unchanged(tmp_path, what, change, committed):
    path = tmp_path / "take.wav"
    path.write_bytes(b"A" * 1000)
    os.utime(path, ns=(1_700_000_000_123_456_789, 1_700_000_000_123_456_789))
    entry = record(path)
    change(path)
    assert same_stat(entry, os.lstat(path)) is committed


def test_a_staged_or_flagged_entry_is_never_committed(tmp_path):
    path = tmp_path / "take.wav"
    path.write_bytes(b"A")
    entry = record(path)
    entry.flags = 0x1000  # a merge stage
    assert not same_stat(entry, os.lstat(path))


def test_recorded_entries_reads_the_index_and_survives_a_torn_one(tmp_path):
    path = tmp_path / "assets" / "a.txt"
    path.parent.mkdir()
    path.write_bytes(b"a")
    index = Index(tmp_path / "index", read=False)
    index[b"assets/a.txt"] = record(path)
    index.write()
    entries = recorded_entries(tmp_path / "index")
    assert list(entries) == ["assets/a.txt"] and same_stat(entries["assets/a.txt"], os.lstat(path))
    assert recorded_entries(tmp_path / "missing") == {}
    (tmp_path / "torn").write_bytes((tmp_path / "index").read_bytes()[:20])
    assert recorded_entries(tmp_path / "torn") == {}
