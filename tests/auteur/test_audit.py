"""auteur.audit: an append-only log read backwards, a page at a time."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

import msgspec
import pytest

from auteur import audit
from auteur.audit import AuditEntry


def entry(n: int, *, project: str = "film", actor: str | None = "Ada", **details) -> AuditEntry:
    return AuditEntry(at=1_800_000_000.0 + n, actor=actor, action="asset.upload", project=project, details={"n": n, **details})


def numbers(page: audit.AuditPage) -> list[int]:
    return [e.details["n"] for e in page.items]


def test_no_log_is_an_empty_page(tmp_path):
    assert audit.read(tmp_path) == audit.AuditPage(items=[], next=None)


def test_entries_come_back_newest_first_as_they_were_written(tmp_path):
    audit.append(tmp_path, entry(1))
    audit.append(tmp_path, entry(2, actor=None, path="assets/audio/take 1.wav"), entry(3))
    page = audit.read(tmp_path)
    assert numbers(page) == [3, 2, 1] and page.next is None
    assert page.items[1] == entry(2, actor=None, path="assets/audio/take 1.wav")
    line = audit.path_of(tmp_path).read_bytes().splitlines()[0]
    assert msgspec.json.decode(line) == {"at": 1_800_000_001.0, "actor": "Ada", "action": "asset.upload", "project": "film",
                                         "details": {"n": 1}}  # fmt: skip


def test_filters_by_project_and_actor(tmp_path):
    audit.append(tmp_path, entry(1), entry(2, project="doc"), entry(3, actor="Bob"), entry(4, project="doc", actor="Bob"))
    assert numbers(audit.read(tmp_path, project="doc")) == [4, 2]
    assert numbers(audit.read(tmp_path, actor="Bob")) == [4, 3]
    assert numbers(audit.read(tmp_path, project="film", actor="Ada")) == [1]
    assert numbers(audit.read(tmp_path, actor="Nobody")) == []


@pytest.mark.parametrize("block", [7, 100, audit.BLOCK])  # lines straddling block boundaries, or many in one
def test_pages_walk_the_whole_log_once_newest_first(tmp_path, monkeypatch, block):
    monkeypatch.setattr(audit, "BLOCK", block)
    audit.append(tmp_path, *(entry(n, project="film" if n % 3 else "doc") for n in range(200)))
    for project, wanted in ((None, list(range(199, -1, -1))), ("doc", list(range(198, -1, -3)))):
        seen, before = [], None
        while True:
            page = audit.read(tmp_path, project=project, limit=7, before=before)
            assert len(page.items) <= 7
            seen += numbers(page)
            if page.next is None:
                break
            assert before is None or page.next < before
            before = page.next
        assert seen == wanted


def test_a_full_last_page_says_there_is_nothing_older(tmp_path):
    audit.append(tmp_path, *(entry(n) for n in range(4)))
    first = audit.read(tmp_path, limit=2)
    assert numbers(first) == [3, 2] and first.next is not None
    last = audit.read(tmp_path, limit=2, before=first.next)
    assert numbers(last) == [1, 0] and last.next is None


def test_a_cursor_inside_a_line_leaves_that_line_for_the_next_page(tmp_path):
    audit.append(tmp_path, entry(1), entry(2))
    second_starts = len(audit.path_of(tmp_path).read_bytes().splitlines()[0]) + 1
    assert numbers(audit.read(tmp_path, before=second_starts + 5)) == [1]
    assert numbers(audit.read(tmp_path, before=10**12)) == [2, 1]


def test_torn_and_foreign_lines_are_skipped(tmp_path):
    audit.append(tmp_path, entry(1))
    with open(audit.path_of(tmp_path), "ab") as log:
        log.write(b"not json\n\n" + b'{"at": "yesterday"}\n')
    audit.append(tmp_path, entry(2))
    with open(audit.path_of(tmp_path), "ab") as log:
        log.write(msgspec.json.encode(entry(3))[:20])  # a crash in the middle of a write
    assert numbers(audit.read(tmp_path)) == [2, 1]


def test_a_page_reads_a_block_or_two_of_a_large_log(tmp_path, monkeypatch):
    audit.append(tmp_path, *(entry(n, path="x" * 200) for n in range(50_000)))  # about 14 MB
    assert audit.path_of(tmp_path).stat().st_size > 100 * audit.BLOCK
    read = []
    real_pread = os.pread
    monkeypatch.setattr(audit.os, "pread", lambda fd, n, at: read.append(n) or real_pread(fd, n, at))
    page = audit.read(tmp_path, limit=100)
    assert numbers(page) == list(range(49_999, 49_899, -1))
    assert sum(read) <= 2 * audit.BLOCK


def _append_many(state: str, writer: int) -> None:
    for n in range(300):
        audit.append(Path(state), entry(n, actor=f"writer {writer}", pad="y" * (n * 37 % 9000)))


def test_writers_appending_at_once_never_interleave_their_lines(tmp_path):
    context = multiprocessing.get_context("spawn")
    writers = [context.Process(target=_append_many, args=(str(tmp_path), w)) for w in range(4)]
    for process in writers:
        process.start()
    for process in writers:
        process.join(60)
        assert process.exitcode == 0
    lines = audit.path_of(tmp_path).read_bytes().splitlines()
    assert len(lines) == 4 * 300
    entries = [msgspec.json.decode(line, type=AuditEntry) for line in lines]  # each one whole
    for w in range(4):
        assert [e.details["n"] for e in entries if e.actor == f"writer {w}"] == list(range(300))
