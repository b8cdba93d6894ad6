"""Media integrity of a project: what its committed media should be, against what is on disk.

Called by ``controller.cli`` (``auteur fsck``, read-only) and by ``controller.scrubbing`` (the
controller's background pass, in a thread of its own at the lowest priority). Each project is
planned (``plan_project``: HEAD's tree read with dulwich, every blob's size from the head of its
loose object, or from the real ``git ls-tree -l`` once the blobs are packed; nothing large is
read) a few projects ahead of the one being hashed (``check_projects``), and the check finds:

* an LFS object whose sha256 or size is not its pointer's (streamed in 1 MiB reads, constant
  memory), or that is missing from ``.git/lfs/objects``;
* LFS pointer text sitting in the working tree where the media's bytes should be;
* a working file whose size differs from what is committed (the pointer's size for LFS) although
  neither its mtime nor its ctime is newer than HEAD's commit. A file changed since then is an
  edit the next snapshot commits (or is committing), not damage: a user who just saved a render
  expects no warning about it. A file missing from the tree is a deletion, likewise. Commit
  times are whole seconds, so "newer" means a second or more after the commit's second began:
  a file a snapshot just committed is judged, and an edit in that same second may be reported
  once, until the commit that takes it (the background pass drops a result when HEAD moved);
* video and audio that ``ffprobe`` cannot read to its end (truncated, or not what it claims),
  unless edited since the commit (a render still being written is not a truncated one);
* a blob above the large-file threshold committed outside LFS.

Nothing is ever repaired here: the check only reads.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import re
import stat
import subprocess
import sys
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from dulwich.object_store import DiskObjectStore
from dulwich.objects import S_ISGITLINK, Commit, ObjectID, Tree

from auteur.media import VIDEO_EXTENSIONS
from auteur.status import MediaFinding
from controller import lfs
from controller.repository import head_commit

CHUNK = lfs.LFS_CHUNK
AUDIO_EXTENSIONS = frozenset({"wav", "aif", "aiff", "flac", "mp3", "m4a", "aac", "ogg"})
_POINTER_FIELDS = re.compile(rb"oid sha256:([0-9a-f]{64})\nsize ([0-9]+)\n")
_POINTER_MAX = 1024
_LOOSE_HEAD = 8192  # enough of a loose object's file for its header and a pointer's text
_READ_AHEAD = 8 * CHUNK  # asked of the disk ahead of the reads
_PREFETCH_FILES = 2  # objects of a planned project whose start is asked for at once
_PLANNERS = 2
# LFS objects hashed at once. One core hashes sha256 about as fast as a disk here reads, and two
# reads in flight come off it faster than one: two hashers read at about the speed of a cold `cat`.
HASHERS = 2
_AHEAD = 6  # projects planned ahead of the one hashed
_END = object()
T = TypeVar("T")
# ffprobe may take this long, plus a second per 50 MB it reads.
_FFPROBE_BASE_SECONDS = 30.0
_FFPROBE_BYTES_PER_SECOND = 50 * 1024**2

CORRUPT = "corrupt LFS object"
MISSING = "missing LFS object"
POINTER = "LFS pointer in the working tree"
SIZE = "size differs from the commit"
UNREADABLE = "truncated or unreadable"
OUTSIDE_LFS = "large file committed outside LFS"


class IntegrityError(Exception):
    """The project cannot be checked at all (no readable repository)."""


class Throttle:
    """Keeps reading under ``rate`` bytes a second (0: no limit).

    Shared by every file of a pass, and by its hashing threads; ``use`` is called after each
    read with its size."""

    def __init__(self, rate: int = 0) -> None:
        self.rate = rate
        self.started = time.monotonic()
        self.used = 0
        self._lock = threading.Lock()

    def use(self, count: int) -> None:
        if self.rate <= 0:
            return
        with self._lock:
            self.used += count
            ahead = self.used / self.rate - (time.monotonic() - self.started)
            if ahead < -1.0:  # idle time is not saved up for a burst later
                self.started, self.used = time.monotonic(), 0
        if ahead > 0:
            time.sleep(ahead)


@dataclass(frozen=True)
class Entry:
    """One blob of HEAD's tree."""

    path: str
    sha: str
    size: int


@dataclass
class Report:
    """What ``check_project`` found in one project at ``commit``."""

    commit: str | None
    findings: list[MediaFinding] = field(default_factory=list)
    bytes_checked: int = 0


def describe(finding: MediaFinding) -> str:
    """``outputs/renders/x.mp4: truncated or unreadable (ffprobe: moov atom not found)``."""
    return f"{finding.path}: {finding.problem}" + (f" ({finding.detail})" if finding.detail else "")


def tree_entries(root: Path) -> list[Entry]:
    """Every blob in HEAD's tree with its size."""
    return [entry for entry, _ in committed_blobs(root)]


def committed_blobs(root: Path, commit: Commit | None = None) -> list[tuple[Entry, tuple[str, int] | None]]:
    """Every blob in ``commit``'s tree (HEAD's by default) with its size and, if it is one, its
    LFS pointer (oid, size).

    Trees are read with dulwich, and each blob's size (and a small blob's bytes) from the head of
    its loose object, so that nothing large is read and no process is started. A repository whose
    blobs are packed (after a ``git gc``) is listed by the real ``git ls-tree -l`` instead."""
    objects = root / ".git" / "objects"
    try:
        commit = commit or head_commit(root)
        if commit is None:
            return []
        store = DiskObjectStore(str(objects))
        listed = _loose_blobs(store, objects, commit.tree)
        if listed is not None:
            return listed
        entries = _git_tree_entries(root, commit.id.decode())
        return [(entry, _pointer_of(store, entry)) for entry in entries]
    except (KeyError, ValueError, zlib.error) as exc:
        raise IntegrityError(f"{root}: unreadable git objects ({exc})") from exc


def _loose_blobs(store: DiskObjectStore, objects: Path, tree_id: bytes) -> list[tuple[Entry, tuple[str, int] | None]] | None:
    """The blobs under ``tree_id`` from their loose objects; None if any of them is not loose."""
    found = []
    todo = [(tree_id, "")]
    while todo:
        sha, prefix = todo.pop()
        tree = store[ObjectID(sha)]
        if not isinstance(tree, Tree):
            raise ValueError(f"{sha.decode()} is not a tree")
        for item in tree.iteritems():
            path = prefix + os.fsdecode(item.path)
            if stat.S_ISDIR(item.mode):
                todo.append((item.sha, path + "/"))
            elif not S_ISGITLINK(item.mode):
                head = _loose_head(objects, item.sha.decode())
                if head is None:
                    return None
                size, data = head
                found.append((Entry(path, item.sha.decode(), size), parse_pointer(data) if data is not None else None))
    return found


def _loose_head(objects: Path, sha: str) -> tuple[int, bytes | None] | None:
    """(size, bytes if it may be a pointer) of a loose blob, from the start of its file; None if
    it is not a loose blob."""
    try:
        with open(objects / sha[:2] / sha[2:], "rb") as f:
            raw = f.read(_LOOSE_HEAD)
    except FileNotFoundError:
        return None
    out = zlib.decompressobj().decompress(raw, _POINTER_MAX + 64)
    header, nul, rest = out.partition(b"\0")
    kind, _, size_text = header.partition(b" ")
    if not nul or kind != b"blob":
        return None
    size = int(size_text)
    if size > _POINTER_MAX:
        return size, None
    if len(rest) != size:
        return None  # not all in the bytes read: let git say
    return size, rest


def _git_tree_entries(root: Path, commit: str) -> list[Entry]:
    """Every blob in ``commit``'s tree with its size, from the real git (nothing is read but trees)."""
    args = ["git", "-c", "safe.directory=*", "-C", str(root), "ls-tree", "-r", "-l", "-z", "--full-tree", commit]
    done = subprocess.run(args, capture_output=True, timeout=300, check=False)
    if done.returncode != 0:
        raise IntegrityError(f"git ls-tree: {done.stderr.decode(errors='replace').strip() or done.returncode}")
    entries = []
    for record in done.stdout.split(b"\0"):
        if not record:
            continue
        meta, _, path = record.partition(b"\t")
        _mode, kind, sha, size = meta.split()
        if kind == b"blob":
            entries.append(Entry(os.fsdecode(path), sha.decode(), int(size)))
    return entries


def _pointer_of(store: DiskObjectStore, entry: Entry) -> tuple[str, int] | None:
    if entry.size > _POINTER_MAX:
        return None
    return parse_pointer(store[ObjectID(entry.sha.encode())].as_raw_string())


def parse_pointer(data: bytes) -> tuple[str, int] | None:
    """(oid, size) of an LFS pointer text, else None."""
    if not lfs.is_pointer(data):
        return None
    match = _POINTER_FIELDS.search(data)
    assert match is not None
    return match.group(1).decode(), int(match.group(2))


def hash_file(path: Path, throttle: Throttle) -> tuple[str, int]:
    """The sha256 hex of ``path`` and the bytes read, in 1 MiB reads (constant memory), the disk
    asked for the next few MiB ahead of them; its pages are dropped afterwards, so a pass over the
    whole volume does not push hot data out of the page cache."""
    digest = hashlib.sha256()
    buffer = memoryview(bytearray(CHUNK))
    total = asked = 0
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)
        while True:
            if total + _READ_AHEAD // 2 >= asked:
                os.posix_fadvise(fd, asked, _READ_AHEAD, os.POSIX_FADV_WILLNEED)
                asked += _READ_AHEAD
            count = os.readv(fd, (buffer,))
            if not count:
                break
            digest.update(buffer[:count])
            total += count
            throttle.use(count)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
    return digest.hexdigest(), total


def prefetch(path: Path) -> None:
    """Ask the disk for the start of ``path`` now: it arrives while the files before it are hashed."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return
    try:
        os.posix_fadvise(fd, 0, _READ_AHEAD, os.POSIX_FADV_WILLNEED)
    finally:
        os.close(fd)


def check_working_file(root: Path, entry: Entry, pointer: tuple[str, int] | None, committed_at: float) -> Iterator[MediaFinding]:
    """The working file against its committed version (see the module's docstring)."""
    try:
        st = os.lstat(root / entry.path)
    except (FileNotFoundError, NotADirectoryError):
        return  # deleted: the next snapshot commits that
    if not stat.S_ISREG(st.st_mode):
        return
    committed = pointer[1] if pointer else entry.size
    if pointer is not None and st.st_size != committed and st.st_size <= _POINTER_MAX and _holds_pointer(root / entry.path):
        yield MediaFinding(path=entry.path, problem=POINTER,
                           detail=f"{st.st_size} bytes of pointer text in place of {committed} bytes of media")  # fmt: skip
        return
    if st.st_size != committed and not edited_since(st, committed_at):
        yield MediaFinding(path=entry.path, problem=SIZE,
                           detail=f"{st.st_size} bytes on disk, {committed} committed, not modified since")  # fmt: skip


def edited_since(st: os.stat_result, committed_at: float) -> bool:
    """True if the file changed after the commit made at ``committed_at`` (whole seconds)."""
    return max(st.st_mtime, st.st_ctime) >= committed_at + 1


def is_audio_or_video(relpath: str) -> bool:
    _, dot, ext = relpath.rsplit("/", 1)[-1].rpartition(".")
    return bool(dot) and (ext.lower() in VIDEO_EXTENSIONS or ext.lower() in AUDIO_EXTENSIONS)


def probe(path: Path, size: int) -> str | None:
    """Why ffprobe cannot read ``path`` to its end (demuxing every packet, decoding nothing), or None."""
    source = f"file:{path}"  # never a protocol, whatever the name holds
    args = ["ffprobe", "-v", "error", "-count_packets", "-show_entries", "format=duration", "-of", "csv=p=0", source]
    timeout = _FFPROBE_BASE_SECONDS + size / _FFPROBE_BYTES_PER_SECOND
    try:
        done = subprocess.run(args, capture_output=True, timeout=timeout, check=False, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return f"ffprobe: no answer in {timeout:.0f} s"
    errors = done.stderr.decode(errors="replace").strip()
    if done.returncode != 0 or errors:
        first = errors.splitlines()[0] if errors else f"exit status {done.returncode}"
        return f"ffprobe: {first.removeprefix(source + ': ')}"
    return None


def probe_wanted(root: Path, entry: Entry, committed_at: float) -> int | None:
    """The size of the working file of ``entry`` if ffprobe should read it: a regular file, not
    edited since the commit, not pointer text (found on its own). None otherwise."""
    path = root / entry.path
    try:
        st = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    if not stat.S_ISREG(st.st_mode) or edited_since(st, committed_at) or (st.st_size <= _POINTER_MAX and _holds_pointer(path)):
        return None
    return st.st_size


def _holds_pointer(path: Path) -> bool:
    with open(path, "rb") as f:
        return parse_pointer(f.read(_POINTER_MAX + 1)) is not None


@dataclass
class Plan:
    """A project read and ready to be checked: what was found from metadata alone, and the LFS
    objects to hash and the media to probe."""

    root: Path
    report: Report
    objects: list[tuple[Entry, str, Path]] = field(default_factory=list)  # (entry, oid, object file)
    media: list[tuple[Entry, int]] = field(default_factory=list)  # (entry, working file size)


def plan_project(root: Path, large_file_bytes: int) -> Plan:
    """Everything about the project at ``root`` but its hashing and probing: HEAD's tree, the
    pointers, the LFS objects' presence and sizes, the working files. Small random reads: run
    a few projects ahead of the hashing (``check_projects``), they are hidden behind it."""
    git_dir = root / ".git"
    if not git_dir.is_dir():
        raise IntegrityError(f"{root}: no git repository")
    head = head_commit(root)
    if head is None:
        return Plan(root, Report(commit=None))
    plan, committed_at = Plan(root, Report(commit=head.id.decode())), float(head.commit_time)
    findings = plan.report.findings
    for entry, pointer in committed_blobs(root, head):
        if pointer is not None:
            findings.extend(_object_presence(git_dir, entry, *pointer, plan))
        elif entry.size > large_file_bytes:
            findings.append(MediaFinding(path=entry.path, problem=OUTSIDE_LFS, detail=f"a {entry.size} byte blob in git's object store"))
        working = list(check_working_file(root, entry, pointer, committed_at))
        findings.extend(working)
        if not working and is_audio_or_video(entry.path) and (size := probe_wanted(root, entry, committed_at)) is not None:
            plan.media.append((entry, size))
    for _, _, path in plan.objects[:_PREFETCH_FILES]:
        prefetch(path)
    return plan


def _object_presence(git_dir: Path, entry: Entry, oid: str, size: int, plan: Plan) -> Iterator[MediaFinding]:
    path = lfs.object_path(git_dir, oid)
    try:
        stored = os.stat(path).st_size
    except FileNotFoundError:
        yield MediaFinding(path=entry.path, problem=MISSING, detail=f"no {oid[:12]}… in .git/lfs/objects")
        return
    if stored != size:
        yield MediaFinding(path=entry.path, problem=CORRUPT, detail=f"object {oid[:12]}… holds {stored} bytes, the pointer says {size}")
        return
    plan.objects.append((entry, oid, path))


def finish(plan: Plan, throttle: Throttle, prober: Callable[[Path, int], str | None] = probe,
           digests: Iterable[tuple[str, int]] | None = None) -> Report:  # fmt: skip
    """Hash the planned LFS objects and probe the planned media: the project's report.
    ``digests``: the objects' (sha256, bytes read) in the plan's order, when they were hashed
    elsewhere (``check_projects`` hashes them in a pool); else they are hashed here."""
    report = plan.report
    if digests is None:
        digests = (hash_file(path, throttle) for _, _, path in plan.objects)
    for (entry, oid, _), (digest, count) in zip(plan.objects, digests, strict=True):
        report.bytes_checked += count
        if digest != oid:
            report.findings.append(MediaFinding(path=entry.path, problem=CORRUPT, detail=f"object {oid[:12]}… hashes to {digest[:12]}…"))
    for entry, size in plan.media:
        why = prober(plan.root / entry.path, size)
        throttle.use(size)
        report.bytes_checked += size
        if why is not None:
            report.findings.append(MediaFinding(path=entry.path, problem=UNREADABLE, detail=why))
    report.findings.sort(key=lambda f: (f.path, f.problem))
    return report


def check_projects(items: Iterable[T], root_of: Callable[[T], Path], *, large_file_bytes: int,
                   throttle: Throttle | None = None, prober: Callable[[Path, int], str | None] = probe,
                   ahead: int = _AHEAD, hashers: int = HASHERS) -> Iterator[tuple[T, Report | IntegrityError | OSError]]:  # fmt: skip
    """Check each item's project in turn, yielding its report (or why it could not be checked).

    Projects are checked one after another, in order. Their LFS objects are hashed ``hashers``
    at a time by a pool fed in order, so the next project's first object is started only once
    every object of the current one is; the media is probed in the calling thread. Meanwhile a
    couple of threads plan the next ``ahead`` projects (``plan_project``), so that their small
    reads and the start of their first objects are in the cache when their turn comes. ``items``
    is consumed lazily, in the calling thread, one plan ahead of its turn. The threads are
    started from the calling thread, and so share its CPU and disk priority."""
    throttle = throttle or Throttle()
    source = iter(items)
    planning: deque[tuple[T, Future[Plan]]] = deque()
    hashing: deque[tuple[T, Plan | IntegrityError | OSError, list[Future[tuple[str, int]]]]] = deque()
    planners = ThreadPoolExecutor(max_workers=_PLANNERS, thread_name_prefix="integrity-plan")
    pool = ThreadPoolExecutor(max_workers=max(1, hashers), thread_name_prefix="integrity-hash")

    def refill() -> None:
        while len(planning) < ahead:
            item = next(source, _END)
            if item is _END:
                return
            planning.append((item, planners.submit(plan_project, root_of(item), large_file_bytes)))  # type: ignore[arg-type]

    def start_hashing() -> None:
        while len(hashing) < 2 and planning:  # this project's objects and the next one's, queued
            item, planned = planning.popleft()
            refill()
            try:
                plan = planned.result()
            except (IntegrityError, OSError) as exc:
                hashing.append((item, exc, []))
                continue
            hashing.append((item, plan, [pool.submit(hash_file, path, throttle) for _, _, path in plan.objects]))

    try:
        refill()
        while True:
            start_hashing()
            if not hashing:
                return
            item, plan, digests = hashing.popleft()
            report: Report | IntegrityError | OSError
            try:
                report = plan if not isinstance(plan, Plan) else finish(plan, throttle, prober, (f.result() for f in digests))
            except (IntegrityError, OSError) as exc:
                report = exc
            yield item, report
    finally:
        planners.shutdown(wait=False, cancel_futures=True)
        pool.shutdown(wait=False, cancel_futures=True)


def check_project(root: Path, *, large_file_bytes: int, throttle: Throttle | None = None,
                  prober: Callable[[Path, int], str | None] = probe) -> Report:  # fmt: skip
    """Every finding in the project at ``root`` (HEAD's tree against the LFS store and the
    working tree). Raises ``IntegrityError`` when there is no repository to check."""
    return finish(plan_project(root, large_file_bytes), throttle or Throttle(), prober)


_IOPRIO_SET = {"x86_64": 251, "aarch64": 30}  # the ioprio_set(2) syscall's number
_IOPRIO_CLASS_IDLE = 3


def lower_priority() -> None:
    """Make the calling thread (and the threads and processes it starts) take only CPU and disk
    time that nothing else wants: ``SCHED_IDLE`` (else the lowest ``nice``) and the idle I/O
    class (``ioprio_set(2)``, where the kernel has it). For a thread of its own: an unprivileged
    thread cannot take its priority back."""
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError):
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
        except OSError:
            pass
    number = _IOPRIO_SET.get(os.uname().machine)
    if number is not None and sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).syscall(number, 1, 0, _IOPRIO_CLASS_IDLE << 13)  # this thread; failure changes nothing
