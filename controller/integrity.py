"""Media integrity of one project: what its committed media should be, against what is on disk.

Called by ``controller.cli`` (``auteur fsck``, read-only) and by ``controller.scrubbing`` (the
controller's background pass, in a worker thread). ``check_project`` reads HEAD's tree with
the real ``git ls-tree -l`` (every blob's size without reading it) and finds:

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

import hashlib
import os
import re
import stat
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from dulwich.object_store import DiskObjectStore
from dulwich.objects import ObjectID

from auteur.media import VIDEO_EXTENSIONS
from auteur.status import MediaFinding
from controller import lfs
from controller.repository import head_info

CHUNK = lfs.LFS_CHUNK
AUDIO_EXTENSIONS = frozenset({"wav", "aif", "aiff", "flac", "mp3", "m4a", "aac", "ogg"})
_POINTER_FIELDS = re.compile(rb"oid sha256:([0-9a-f]{64})\nsize ([0-9]+)\n")
_POINTER_MAX = 1024
_METADATA_THREADS = 8
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


class Stopped(Exception):
    """The check was asked to stop (the controller is shutting down)."""


class Throttle:
    """Keeps reading under ``rate`` bytes a second (0: no limit) and stops when asked.

    Shared by every file of a pass; ``use`` is called after each read with its size.
    """

    def __init__(self, rate: int = 0, *, stop: threading.Event | None = None) -> None:
        self.rate, self.stop = rate, stop or threading.Event()
        self.started = time.monotonic()
        self.used = 0
        self.total = 0

    def use(self, count: int) -> None:
        self.total += count
        if self.stop.is_set():
            raise Stopped
        if self.rate <= 0:
            return
        self.used += count
        ahead = self.used / self.rate - (time.monotonic() - self.started)
        if ahead > 0:
            self.stop.wait(ahead)
        elif ahead < -1.0:  # idle time is not saved up for a burst later
            self.started, self.used = time.monotonic(), 0


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


def tree_entries(root: Path, commit: str = "HEAD") -> list[Entry]:
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


def parse_pointer(data: bytes) -> tuple[str, int] | None:
    """(oid, size) of an LFS pointer text, else None."""
    if not lfs.is_pointer(data):
        return None
    match = _POINTER_FIELDS.search(data)
    assert match is not None
    return match.group(1).decode(), int(match.group(2))


def hash_file(path: Path, throttle: Throttle) -> tuple[str, int]:
    """(sha256 hex, bytes read) of ``path``, in 1 MiB reads; its pages are dropped afterwards,
    so a pass over the whole volume does not push hot data out of the page cache."""
    digest = hashlib.sha256()
    buffer = memoryview(bytearray(CHUNK))
    total = 0
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)
        while count := os.readv(fd, (buffer,)):
            digest.update(buffer[:count])
            total += count
            throttle.use(count)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
    return digest.hexdigest(), total


def check_lfs_object(git_dir: Path, entry: Entry, oid: str, size: int, throttle: Throttle) -> Iterator[MediaFinding]:
    path = lfs.object_path(git_dir, oid)
    try:
        stored = os.stat(path).st_size
    except FileNotFoundError:
        yield MediaFinding(path=entry.path, problem=MISSING, detail=f"no {oid[:12]}… in .git/lfs/objects")
        return
    if stored != size:
        yield MediaFinding(path=entry.path, problem=CORRUPT, detail=f"object {oid[:12]}… holds {stored} bytes, the pointer says {size}")
        return
    digest, _ = hash_file(path, throttle)
    if digest != oid:
        yield MediaFinding(path=entry.path, problem=CORRUPT, detail=f"object {oid[:12]}… hashes to {digest[:12]}…")


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


def check_media(root: Path, entry: Entry, committed_at: float, throttle: Throttle,
                prober: Callable[[Path, int], str | None]) -> Iterator[MediaFinding]:  # fmt: skip
    path = root / entry.path
    try:
        st = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return
    if not stat.S_ISREG(st.st_mode) or edited_since(st, committed_at) or (st.st_size <= _POINTER_MAX and _holds_pointer(path)):
        return
    why = prober(path, st.st_size)
    throttle.use(st.st_size)
    if why is not None:
        yield MediaFinding(path=entry.path, problem=UNREADABLE, detail=why)


def _holds_pointer(path: Path) -> bool:
    with open(path, "rb") as f:
        return parse_pointer(f.read(_POINTER_MAX + 1)) is not None


def read_pointers(root: Path, entries: list[Entry]) -> list[tuple[str, int] | None]:
    """Each entry's LFS pointer (oid, size), or None. The small blobs are read, and the working
    files and LFS objects looked up, by a few threads at once: on a cold cache these are small
    random reads, each waiting on the disk, and the hashing that follows finds them cached."""
    local = threading.local()
    git_dir = root / ".git"

    def pointer_of(entry: Entry) -> tuple[str, int] | None:
        if entry.size > _POINTER_MAX:
            return None
        if not hasattr(local, "objects"):  # dulwich's pack readers are not shared between threads
            local.objects = DiskObjectStore(str(git_dir / "objects"))
        pointer = parse_pointer(local.objects[ObjectID(entry.sha.encode())].as_raw_string())
        _look_up(root / entry.path)
        if pointer is not None:
            _look_up(lfs.object_path(git_dir, pointer[0]))
        return pointer

    with ThreadPoolExecutor(max_workers=_METADATA_THREADS, thread_name_prefix="integrity") as pool:
        return list(pool.map(pointer_of, entries))


def _look_up(path: Path) -> None:
    try:
        os.lstat(path)
    except OSError:
        pass


def warm(root: Path) -> None:
    """Read what ``check_project`` will look up in ``root`` first (HEAD, its trees, the small
    blobs, the inodes), so that checking it next finds that in the cache. Called for the next
    project while the current one is hashed: its small reads overlap the big ones."""
    try:
        commit = head_info(root)[0]
        if commit is not None:
            read_pointers(root, tree_entries(root, commit))
    except (IntegrityError, OSError, KeyError, ValueError, subprocess.SubprocessError):
        pass  # checking it will say what is wrong


def check_project(root: Path, *, large_file_bytes: int, throttle: Throttle | None = None,
                  prober: Callable[[Path, int], str | None] = probe) -> Report:  # fmt: skip
    """Every finding in the project at ``root`` (HEAD's tree against the LFS store and the
    working tree). Raises ``IntegrityError`` when there is no repository to check."""
    throttle = throttle or Throttle()
    if not (root / ".git").is_dir():
        raise IntegrityError(f"{root}: no git repository")
    commit, _, committed_at = head_info(root)
    if commit is None or committed_at is None:
        return Report(commit=None)
    started = throttle.total
    report = Report(commit=commit)
    git_dir = root / ".git"
    entries = tree_entries(root, commit)
    for entry, pointer in zip(entries, read_pointers(root, entries), strict=True):
        if pointer is not None:
            report.findings.extend(check_lfs_object(git_dir, entry, pointer[0], pointer[1], throttle))
        elif entry.size > large_file_bytes:
            report.findings.append(MediaFinding(path=entry.path, problem=OUTSIDE_LFS,
                                                detail=f"a {entry.size} byte blob in git's object store"))  # fmt: skip
        working = list(check_working_file(root, entry, pointer, committed_at))
        report.findings.extend(working)
        if not working and is_audio_or_video(entry.path):
            report.findings.extend(check_media(root, entry, committed_at, throttle, prober))
    report.bytes_checked = throttle.total - started
    return report
