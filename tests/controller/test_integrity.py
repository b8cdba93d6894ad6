"""Media integrity (``controller.integrity``, ``auteur fsck``, the pass in ``controller.scrubbing``)
on real projects: real git, git-lfs and ffmpeg plant each fault, the real CLI and loop find it."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import anyio
import msgspec
import pytest
from helpers import drop_file, git, wait_for, write_spec

from auteur.settings import Settings
from auteur.status import Phase, StatusStore
from controller import integrity
from controller.checker import Checker, CheckerDied, CheckFailed
from controller.metrics import Metrics
from controller.queueing import WorkQueue
from controller.reconciling import Reconciler
from controller.scrubbing import Cursor, Scrub, read_cursor, write_cursor
from tests.controller.test_running import Running

ROOT = Path(__file__).resolve().parents[2]
PAST = time.time() - 60  # settled long ago: committed by the next reconcile


def make_project(settings: Settings, name: str, files: dict[str, bytes]) -> Path:
    """A converged project holding ``files`` (project-relative path -> bytes), all committed."""
    write_spec(settings, f"{name}.yaml", f"name: {name}\n")
    reconciler = Reconciler(settings)
    reconciler.reconcile(name)
    root = settings.workspace / name
    for rel, data in files.items():
        drop_file(root / rel, data, mtime=PAST)
    reconciler.reconcile(name)
    status = reconciler.status_of(name)
    assert status is not None and status.status is Phase.READY and not status.is_dirty
    return root


def made_by_ffmpeg(tmp_path: Path, name: str, source: str, *options: str) -> bytes:
    """Media the real ffmpeg makes from a lavfi test source (an mp4's moov at its end, as by default)."""
    out = tmp_path / name
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", source, *options, str(out)], check=True)
    return out.read_bytes()


def lfs_object(root: Path, rel: str) -> Path:
    oid, _ = integrity.parse_pointer(git(root, "show", f"HEAD:{rel}").encode())  # type: ignore[misc]
    return root / ".git" / "lfs" / "objects" / oid[:2] / oid[2:4] / oid


def flip_byte(path: Path, offset: int = 1000) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0xFF]))


@pytest.fixture
def quick(tmp_path):
    return Settings(specs=tmp_path / "specs", workspace=tmp_path / "workspace", settle_seconds=0.0, grace_seconds=0.5,
                    resync_seconds=3600, integrity_interval_seconds=0.5, integrity_pause_seconds=0.0,
                    integrity_rate_bytes=0, integrity_recheck_seconds=0.0)  # fmt: skip


def fsck(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, AUTEUR_SPECS=str(settings.specs), AUTEUR_WORKSPACE=str(settings.workspace), PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "controller", "fsck", *args], cwd=ROOT, env=env, capture_output=True, text=True)


def test_fsck_names_each_planted_fault_and_passes_a_clean_project(quick, tmp_path):
    mp4 = made_by_ffmpeg(tmp_path, "made.mp4", "testsrc=duration=2:size=160x120:rate=10", "-pix_fmt", "yuv420p")
    wav = made_by_ffmpeg(tmp_path, "made.wav", "sine=duration=1")
    clean = make_project(quick, "clean", {"outputs/renders/cut.mp4": mp4, "assets/audio/take.wav": wav,
                                          "assets/styles/plate.exr": os.urandom(300_000)})  # fmt: skip
    flipped = make_project(quick, "flipped", {"assets/styles/plate.exr": os.urandom(300_000)})
    pointer = make_project(quick, "pointer", {"assets/storyboards/board.png": os.urandom(50_000)})
    truncated = make_project(quick, "truncated", {"outputs/renders/cut.mp4": mp4})
    outside = make_project(quick, "outside", {})
    before = fsck(quick)
    assert before.returncode == 0, before.stdout + before.stderr
    assert "5 project(s) checked, clean" in before.stdout

    flip_byte(lfs_object(flipped, "assets/styles/plate.exr"))
    drop_file(truncated / "outputs/renders/cut.mp4", mp4[: len(mp4) // 2], mtime=PAST)
    Reconciler(quick).reconcile("truncated")  # the cut file is committed
    assert git(truncated, "status", "--porcelain") == ""
    (pointer / "assets/storyboards/board.png").write_text(git(pointer, "show", "HEAD:assets/storyboards/board.png"))
    drop_file(outside / "assets/scripts/big.bin", os.urandom(20 * 1024**2), mtime=PAST)
    git(outside, "add", "assets/scripts/big.bin")
    git(outside, "-c", "user.name=Someone", "-c", "user.email=someone@example.com", "commit", "-q", "-m", "big blob")
    committed_at = int(git(clean, "log", "-1", "--format=%ct"))
    wait_for(lambda: time.time() >= committed_at + 1, what="a second after the commit")  # times are whole seconds
    (clean / "outputs/renders/cut.mp4").write_bytes(mp4 + b"an edit the next snapshot commits")

    result = fsck(quick)
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert any(line.startswith("flipped: assets/styles/plate.exr: corrupt LFS object (") for line in lines), lines
    assert any(line.startswith("pointer: assets/storyboards/board.png: LFS pointer in the working tree (") for line in lines), lines
    assert any(line.startswith("truncated: outputs/renders/cut.mp4: truncated or unreadable (ffprobe: ") for line in lines), lines
    assert any(line.startswith("outside: assets/scripts/big.bin: large file committed outside LFS (") for line in lines), lines
    assert not [line for line in lines if line.startswith("clean:")], lines
    assert len(lines) == 5 and "4 with findings" in lines[-1]
    assert fsck(quick, "clean").returncode == 0
    assert fsck(quick, "truncated").returncode == 1
    missing = fsck(quick, "nobody")
    assert missing.returncode == 2 and "No project named" in missing.stderr


def test_a_size_that_moved_without_the_file_changing_is_a_finding(quick):
    root = make_project(quick, "sizes", {"assets/scripts/notes.txt": b"first draft\n"})
    (root / "assets/scripts/notes.txt").write_bytes(b"longer second draft\n")
    entry = next(e for e in integrity.tree_entries(root) if e.path == "assets/scripts/notes.txt")
    edit = list(integrity.check_working_file(root, entry, None, committed_at=time.time() - 30))
    assert edit == []  # changed after the commit: the next snapshot's business
    damage = list(integrity.check_working_file(root, entry, None, committed_at=time.time() + 30))
    assert [f.problem for f in damage] == [integrity.SIZE] and "20 bytes on disk, 12 committed" in damage[0].detail


def findings_of(settings: Settings, key: str) -> list[str]:
    status = StatusStore(settings.state).read(key)
    return [f.problem for f in status.media_findings] if status else []


def test_the_background_pass_sets_and_clears_the_condition(quick):
    root = make_project(quick, "film", {"assets/styles/plate.exr": os.urandom(2_000_000)})
    with Running(quick) as controller:
        wait_for(lambda: controller.metrics.integrity_projects_total >= 1, what="a first clean check")
        assert findings_of(quick, "film") == []
        flip_byte(lfs_object(root, "assets/styles/plate.exr"))
        wait_for(lambda: findings_of(quick, "film") == [integrity.CORRUPT], what="the corrupt object found")
        status = StatusStore(quick.state).read("film")
        assert status is not None and status.status is Phase.READY
        failed, ready = status.condition("MediaIntegrityFailed"), status.condition("Ready")
        assert failed is not None and not failed.status and "assets/styles/plate.exr: corrupt LFS object" in failed.message
        assert ready is not None and ready.status
        wait_for(lambda: controller.metrics.integrity_findings == {"film": 1}, what="the findings gauge")
        assert "media_findings" in status.public() and "integrity_checked" not in status.public()
        flip_byte(lfs_object(root, "assets/styles/plate.exr"))  # the same byte back: the object is whole again
        wait_for(lambda: (s := StatusStore(quick.state).read("film")) and s.condition("MediaIntegrityFailed") is None,
                 what="the condition cleared")  # fmt: skip
        wait_for(lambda: controller.metrics.integrity_findings == {}, what="the findings gauge emptied")
        assert (root / "assets/styles/plate.exr").stat().st_size == 2_000_000  # nothing was "repaired" away


def test_a_restarted_pass_carries_on_after_its_cursor(quick):
    quick.integrity_interval_seconds = 3600
    roots = {name: make_project(quick, name, {"assets/styles/plate.exr": os.urandom(100_000)}) for name in ("a", "b", "c")}
    for root in roots.values():
        flip_byte(lfs_object(root, "assets/styles/plate.exr"))
    started = time.time()
    write_cursor(quick.state, Cursor(started_at=started, after="a"))  # killed after checking "a"
    with Running(quick):
        wait_for(lambda: findings_of(quick, "b") and findings_of(quick, "c"), what="b and c checked")
        wait_for(lambda: (c := read_cursor(quick.state)) and c.finished_at is not None, what="the pass finished")
    cursor = read_cursor(quick.state)
    assert cursor is not None and cursor.started_at == started and cursor.after == "c"
    assert findings_of(quick, "a") == []  # done before the restart: not checked again in this pass
    assert msgspec.json.decode((quick.state / "integrity.json").read_bytes())["after"] == "c"


def test_the_tree_read_through_dulwich_is_what_git_lists_and_packed_blobs_fall_back_to_git(quick):
    root = make_project(quick, "listed", {"assets/styles/plate.exr": os.urandom(200_000),
                                          "assets/scripts/deep/er/notes.txt": b"a note\n"})  # fmt: skip
    by_git = sorted(integrity._git_tree_entries(root, git(root, "rev-parse", "HEAD").strip()), key=lambda e: e.path)
    loose = sorted(integrity.committed_blobs(root), key=lambda pair: pair[0].path)
    assert [entry for entry, _ in loose] == by_git and len(by_git) > 3
    pointers = {entry.path: pointer for entry, pointer in loose}
    assert pointers["assets/styles/plate.exr"] is not None and pointers["assets/scripts/deep/er/notes.txt"] is None
    git(root, "gc", "-q", "--prune=now")  # every blob now in a pack: no loose object to read sizes from
    assert not any((root / ".git" / "objects").glob("[0-9a-f][0-9a-f]/*"))
    assert sorted(integrity.committed_blobs(root), key=lambda pair: pair[0].path) == loose
    flip_byte(lfs_object(root, "assets/styles/plate.exr"))
    report = integrity.check_project(root, large_file_bytes=quick.large_file_bytes)
    assert [(f.path, f.problem) for f in report.findings] == [("assets/styles/plate.exr", integrity.CORRUPT)]


_IOPRIO_GET = {"x86_64": 252, "aarch64": 31}[os.uname().machine]


def io_priority_class() -> int:
    """The calling thread's I/O scheduling class, from the kernel (ioprio_get(2))."""
    value = ctypes.CDLL(None, use_errno=True).syscall(_IOPRIO_GET, 1, 0)
    assert value >= 0, os.strerror(ctypes.get_errno())
    return value >> 13


def test_the_hashing_thread_takes_only_idle_cpu_and_disk_and_leaves_other_threads_alone():
    seen: dict[str, tuple[int, int]] = {}

    def priorities() -> tuple[int, int]:
        return os.sched_getscheduler(0), io_priority_class()

    def hasher() -> None:
        integrity.lower_priority()
        seen["hasher"] = priorities()
        child = threading.Thread(target=lambda: seen.setdefault("started by it", priorities()))
        child.start()
        child.join()

    before = priorities()
    thread = threading.Thread(target=hasher)
    thread.start()
    thread.join()
    idle = (os.SCHED_IDLE, 3)  # IOPRIO_CLASS_IDLE
    assert seen == {"hasher": idle, "started by it": idle}
    assert priorities() == before and before[0] == os.SCHED_OTHER and before[1] != 3


def test_objects_are_hashed_two_at_a_time_in_order_and_reported_project_by_project(quick, monkeypatch):
    roots = [make_project(quick, name, {f"assets/styles/plate-{k}.exr": os.urandom(50_000) for k in range(3)})
             for name in ("p1", "p2", "p3")]  # fmt: skip
    flip_byte(lfs_object(roots[1], "assets/styles/plate-2.exr"))
    lock, running, started = threading.Lock(), [0], []
    most = [0]
    real = integrity.hash_file

    def hash_file(path, throttle):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
            started.append(path)
        time.sleep(0.05)
        try:
            return real(path, throttle)
        finally:
            with lock:
                running[0] -= 1

    monkeypatch.setattr(integrity, "hash_file", hash_file)
    results = list(integrity.check_projects(roots, lambda root: root, large_file_bytes=quick.large_file_bytes))
    assert [root for root, _ in results] == roots
    assert [[(f.path, f.problem) for f in report.findings] for _, report in results] == [
        [], [("assets/styles/plate-2.exr", integrity.CORRUPT)], []]  # fmt: skip
    assert [report.bytes_checked for _, report in results] == [150_000] * 3
    assert most[0] == 2  # two at a time, never more
    owners = [next(i for i, root in enumerate(roots) if root in path.parents) for path in started]
    assert owners == sorted(owners) and len(started) == 9  # in project order: one project after another


def test_the_pass_checks_in_a_process_of_its_own_at_idle_priority_and_answers_in_order(quick, tmp_path):
    roots = [make_project(quick, name, {"assets/styles/plate.exr": os.urandom(80_000)}) for name in ("q1", "q2")]
    flip_byte(lfs_object(roots[1], "assets/styles/plate.exr"))
    (tmp_path / "not-a-project").mkdir()
    items = [("q1", roots[0]), ("bare", tmp_path / "not-a-project"), ("q2", roots[1])]
    checker = Checker(rate=0, large_file_bytes=quick.large_file_bytes)
    answers = checker.check(items)
    key, first = next(answers)
    pid = checker.process.pid
    assert os.sched_getscheduler(pid) == os.SCHED_IDLE  # the kernel's view of the process, not ours
    value = ctypes.CDLL(None, use_errno=True).syscall(_IOPRIO_GET, 1, pid)
    assert value >> 13 == 3  # IOPRIO_CLASS_IDLE
    assert os.sched_getscheduler(0) == os.SCHED_OTHER and io_priority_class() != 3  # the controller's own stay
    rest = list(answers)
    assert [key] + [k for k, _ in rest] == ["q1", "bare", "q2"]
    assert isinstance(first, integrity.Report) and first.findings == [] and first.bytes_checked == 80_000
    assert isinstance(rest[0][1], CheckFailed) and "no git repository" in str(rest[0][1])
    q2 = rest[1][1]
    assert isinstance(q2, integrity.Report)
    assert [(f.path, f.problem) for f in q2.findings] == [("assets/styles/plate.exr", integrity.CORRUPT)]
    assert checker.process.returncode == 0  # stdin closed after the last: it ended by itself


def test_a_checker_that_dies_is_reported_not_waited_for(quick):
    root = make_project(quick, "q3", {"assets/styles/plate.exr": os.urandom(80_000)})
    checker = Checker(rate=1, large_file_bytes=quick.large_file_bytes)  # a byte a second: never done
    answers = checker.check([("q3", root)])
    threading.Timer(1.0, checker.process.kill).start()
    with pytest.raises(CheckerDied, match="ended"):
        next(answers)


def test_a_project_clean_and_unchanged_since_its_last_check_waits_for_the_recheck_period(quick):
    quick.integrity_recheck_seconds = 3600
    root = make_project(quick, "kept", {"assets/styles/plate.exr": os.urandom(100_000)})
    reconciler = Reconciler(quick)
    metrics = Metrics()
    scrub = Scrub(quick, reconciler, WorkQueue(), metrics)
    anyio.run(scrub.run_pass)
    assert metrics.integrity_bytes_total == 100_000  # checked
    anyio.run(scrub.run_pass)
    assert metrics.integrity_bytes_total == 100_000  # clean and unchanged: skipped
    drop_file(root / "assets/styles/extra.exr", os.urandom(50_000), mtime=PAST)
    reconciler.reconcile("kept")  # the reconciler saw the change (its fingerprint moved) and committed it
    anyio.run(scrub.run_pass)
    assert metrics.integrity_bytes_total == 100_000 + 150_000  # checked again, all of it


def process_state(pid: int) -> str:
    """The kernel's one-letter state of ``pid`` (``T``: stopped)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def test_the_checker_is_held_while_the_controller_is_busy_and_goes_on_after(quick):
    roots = [make_project(quick, f"h{k}", {"assets/styles/plate.exr": os.urandom(80_000)}) for k in range(3)]
    checker = Checker(rate=0, large_file_bytes=quick.large_file_bytes)
    queue = WorkQueue()
    queue.on_busy = checker.pause
    queue.add("someone-else")  # the controller has work: the checker is held
    wait_for(lambda: process_state(checker.process.pid) == "T", what="the checker stopped by the kernel")
    assert checker.paused_since is not None
    answers = checker.check([(root.name, root) for root in roots])
    got = []
    reader = threading.Thread(target=lambda: got.extend(answers))
    reader.start()
    time.sleep(1.5)
    assert got == [] and process_state(checker.process.pid) == "T"  # not a project checked while held
    anyio.run(queue.get)
    queue.done("someone-else")  # idle again: it goes on
    reader.join(30)
    assert [key for key, _ in got] == ["h0", "h1", "h2"] and checker.paused_since is None


def test_a_held_checker_still_stops():
    checker = Checker(rate=0, large_file_bytes=1 << 20)
    checker.pause(True)
    checker.stop()
    assert checker.process.returncode is not None
