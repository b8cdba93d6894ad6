"""A project's git repository: created lean, snapshotted without reading what is known.

Called by ``controller.steps`` (and workers running those steps, under the project's
lock). ``ensure_repository`` creates or repairs ``.git`` with the LFS filter set up
as ``git lfs install --local`` does; ``snapshot`` commits what has settled under
``assets/`` and ``outputs/``. Only dulwich's low-level objects are used: its
porcelain would run the LFS filter, which reads whole media files into memory.
A file whose stat matches its index entry is never read, media is copied into
``.git/lfs`` by ``controller.lfs`` in one streaming pass, and the real ``git``
reads the result as clean.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
from collections.abc import Callable, Collection, Mapping
from functools import partial
from pathlib import Path
from typing import Union

import msgspec
from dulwich.index import Index, IndexEntry, index_entry_from_stat
from dulwich.object_store import DiskObjectStore
from dulwich.objects import Blob, Commit, ObjectID, ShaFile, Tree
from dulwich.reflog import format_reflog_line
from dulwich.refs import DiskRefsContainer, Ref

from auteur import faults
from auteur.gitindex import same_stat
from controller import lfs
from controller.gitinit import RepositoryError, clear_stale_locks, ensure_repository, plan_repository

__all__ = ["BRANCH", "RepositoryError", "SnapshotFile", "SnapshotResult", "clear_stale_locks", "ensure_repository", "head_info",
           "plan_repository", "snapshot"]  # fmt: skip

BRANCH = Ref(b"refs/heads/main")
TRACKED_ROOTS = ("assets", "outputs")
KEEP = ".gitkeep"
_O_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
_O_DIR = _O_READ | os.O_DIRECTORY
# A path that vanished, or was swapped for a symlink (ELOOP), since it was listed.
_GONE = (errno.ENOENT, errno.ENOTDIR, errno.ELOOP)
_Tree = dict[bytes, Union["_Tree", tuple[int, ObjectID]]]


class SnapshotFile(msgspec.Struct, kw_only=True, frozen=True):
    """A file a commit adds, modifies or deletes (``size``: the working tree's bytes; None when deleted)."""

    path: str
    action: str  # add | modify | delete
    size: int | None
    lfs: bool


class SnapshotResult(msgspec.Struct, kw_only=True):
    """What ``snapshot`` did, and what the status should say about the repository."""

    changed: bool
    commit: str | None
    pending: list[str]
    retry_after: float | None
    lfs_files: int
    tracked_files: int
    last_commit_message: str | None
    last_commit_at: float | None
    last_commit_author: str | None
    # A dry run's (``dry_run=True``): the files the commit would change, and its message.
    files: list[SnapshotFile] = msgspec.field(default_factory=list)
    message: str | None = None


class _Snapshot:
    """One pass over a project's files, building the new index entries."""

    def __init__(self, git_dir: Path, is_lfs: Callable[[str, int], bool], now: float, settle: float, *,
                 dry_run: bool = False, planned: Mapping[str, bytes] | None = None) -> None:  # fmt: skip
        self.git_dir, self.objects = git_dir, str(git_dir / "objects")
        self.is_lfs, self.now, self.settle = is_lfs, now, settle
        # A dry run writes nothing: no objects, no LFS store, no index. ``planned`` holds the
        # files the earlier steps would write (path -> bytes): they count as already there.
        self.dry_run, self.planned = dry_run, planned or {}
        self.known_oids: Mapping[str, str] = {}
        self.sizes: dict[str, int] = {}  # of every file looked at: what a plan reports
        try:
            index = Index(git_dir / "index")
        except Exception:  # torn by a crash: it only caches stat data, so read the files again
            index = Index(git_dir / "index", read=False)
        self.old = {key: entry for key, entry in index.items() if isinstance(entry, IndexEntry)}
        self.new: dict[bytes, IndexEntry] = {}
        self.pending: list[str] = []
        self.retry_after: float | None = None
        self.lfs_files = 0

    def scan(self, root: Path, always_include: Collection[str]) -> None:
        try:
            root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except FileNotFoundError:
            if not self.planned:  # a dry run's folder may be one still to create
                raise
        else:
            try:
                for rel in sorted(always_include):
                    *folders, name = rel.split("/")
                    self.enter(root_fd, folders, partial(self.include, rel=rel, name=name))
                for top in TRACKED_ROOTS:
                    self.enter(root_fd, [top], partial(self.walk, prefix=top + "/"))
            finally:
                os.close(root_fd)
        for rel, data in sorted(self.planned.items()):
            self.take_planned(rel, data)

    def take_planned(self, rel: str, data: bytes) -> None:
        """A file the dry run's earlier steps would write, as the snapshot would then find it."""
        blob = Blob.from_string(data)
        fake = os.stat_result((0o100644, 0, 0, 0, 0, 0, len(data), 0, 0, 0))
        self.new[os.fsencode(rel)] = index_entry_from_stat(fake, blob.id, 0o100644)
        self.sizes[rel] = len(data)

    def enter(self, dir_fd: int, folders: list[str], then: Callable[[int], None]) -> None:
        """Run ``then`` in ``folders`` below ``dir_fd``, never through a symlink."""
        fd = os.dup(dir_fd)
        try:
            try:
                for folder in folders:
                    fd, parent = os.open(folder, _O_DIR, dir_fd=fd), fd
                    os.close(parent)
            except OSError as exc:
                if exc.errno in _GONE:
                    return
                raise
            then(fd)
        finally:
            os.close(fd)

    def include(self, dir_fd: int, rel: str, name: str) -> None:
        try:
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            return
        if stat.S_ISREG(st.st_mode):  # written atomically by the controller: never waited on
            self.visit(rel, dir_fd, name, st, True)

    def walk(self, dir_fd: int, prefix: str) -> None:
        with os.scandir(dir_fd) as scan:
            entries = sorted(scan, key=lambda e: e.name)
        for entry in entries:
            if entry.name.lower() == ".git":  # git refuses such paths
                continue
            if entry.is_dir(follow_symlinks=False):
                self.enter(dir_fd, [entry.name], partial(self.walk, prefix=f"{prefix}{entry.name}/"))
            elif entry.is_file(follow_symlinks=False):
                try:
                    st = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                # Empty placeholders are the controller's, and harmless even if not.
                self.visit(prefix + entry.name, dir_fd, entry.name, st, entry.name == KEEP and st.st_size == 0)

    def visit(self, rel: str, dir_fd: int, name: str, st: os.stat_result, exempt: bool) -> None:
        if rel in self.planned:
            return
        self.sizes[rel] = st.st_size
        key = os.fsencode(rel)
        old = self.old.get(key)
        if old is not None and same_stat(old, st):
            self.new[key] = old
            self.lfs_files += st.st_size > 0 and self.is_lfs(rel, st.st_size)
            return
        # Camera clocks write mtimes far in the future; the kernel's ctime is honest.
        changed_at = st.st_ctime if st.st_mtime > self.now + self.settle else st.st_mtime
        # A known oid comes from an ingest that holds the project lock: its bytes are
        # complete, so there is nothing to wait for.
        if not exempt and rel not in self.known_oids and self.now - changed_at < self.settle:
            return self.defer(rel, old, changed_at + self.settle - self.now)
        try:
            fd = os.open(name, _O_READ, dir_fd=dir_fd)
        except OSError as exc:
            if exc.errno in _GONE:
                return
            raise
        try:
            fst = os.fstat(fd)
            if fst.st_mtime_ns != st.st_mtime_ns or fst.st_ino != st.st_ino:
                raise lfs.FileChangedError(rel)
            # git-lfs keeps empty files empty, and a file that is a pointer as it is.
            lfs_file = fst.st_size > 0 and self.is_lfs(rel, fst.st_size)
            data = _read_small(fd, fst) if not lfs_file or fst.st_size <= 1024 else b""
            if lfs_file and not lfs.is_pointer(data):
                stored = lfs.hash_fd(fd) if self.dry_run else lfs.store_fd(self.git_dir, fd, self.known_oids.get(rel))
                data = lfs.pointer_bytes(*stored)
        except lfs.FileChangedError:
            return self.defer(rel, old, self.settle)
        finally:
            os.close(fd)
        blob = Blob.from_string(data)
        if not self.dry_run:
            _write_object(self.objects, blob)
        entry = index_entry_from_stat(fst, blob.id, 0o100755 if fst.st_mode & stat.S_IXUSR else 0o100644)
        entry.size &= 0xFFFFFFFF  # the index keeps 32 bits, as git does
        self.new[key] = entry
        self.lfs_files += lfs_file

    def defer(self, rel: str, old: IndexEntry | None, wait: float) -> None:
        self.pending.append(rel)
        self.retry_after = wait if self.retry_after is None else min(self.retry_after, wait)
        if old is not None:  # the committed version stays until the new one settles
            self.new[os.fsencode(rel)] = old
            self.lfs_files += old.size > 0 and self.is_lfs(rel, old.size)


def snapshot(
    root: Path,
    *,
    is_lfs: Callable[[str, int], bool],
    now: float,
    settle_seconds: float,
    message: str,
    author: bytes,
    committer: bytes,
    known_oids: Mapping[str, str] | None = None,
    always_include: Collection[str] = ("project.json", ".gitignore", ".gitattributes"),
    dry_run: bool = False,
    planned: Mapping[str, bytes] | None = None,
    before_commit: Callable[[], None] | None = None,
) -> SnapshotResult:
    """Commit the settled state of ``root``'s tracked files on ``main``.

    Tracked: ``always_include`` (written atomically by the controller, so never
    waited on) and every regular file under ``assets/`` and ``outputs/``; symlinks
    are never followed. A file whose stat matches its index entry is not read. A
    changed file whose mtime is younger than ``settle_seconds`` is left ``pending``
    (its old version stays) and ``retry_after`` says when to come back. Files
    ``is_lfs`` picks go to ``.git/lfs`` and are committed as pointers; the caller
    keeps ``.gitattributes`` in step so that git agrees. A path in ``known_oids``
    (an ingested upload, hashed as it arrived) is committed at once, without
    settling, and never hashed again. ``before_commit`` (the controller's fence) is called
    after the files are read and stored, right before the commit and the index are written:
    it raises to stop there. A new commit is ``author``'s (``Name <email>``, the
    person who made the change) and ``committer``'s (the identity the controller commits as).
    Needs ``ensure_repository``.

    With ``dry_run`` it decides exactly the same but writes nothing (no object, LFS copy,
    commit, ref or index; media is only hashed): ``files`` and ``message`` say what the
    commit would be. ``planned`` (path -> bytes) are files a dry run's earlier steps
    would have written, taken as they would be.
    """
    git_dir = root / ".git"
    if not dry_run:
        clear_stale_locks(git_dir)
    run = _Snapshot(git_dir, is_lfs, now, settle_seconds, dry_run=dry_run, planned=planned)
    run.known_oids = known_oids or {}
    run.scan(root, always_include)
    refs = DiskRefsContainer(git_dir)
    current, head = _read_head(git_dir, refs)
    trees: dict[ObjectID, Tree] = {}
    tree_id = _build_tree(dict(sorted(run.new.items())), trees)
    changed = head is None or head.tree != tree_id
    if dry_run:
        return _planned_result(run, head, changed, message)
    if changed or run.new != run.old:
        faults.hold("snapshot.before_commit")
        if before_commit is not None:
            before_commit()
    if changed:
        for tree in trees.values():
            _write_object(run.objects, tree)
        head = _commit(git_dir, refs, current, head, tree_id, message, int(now), author, committer)
    if changed or run.new != run.old:
        index = Index(git_dir / "index", read=False)
        for key, entry in sorted(run.new.items()):
            index[key] = entry
        index.write()  # index.lock, fsync, rename: as git does
    assert head is not None
    return SnapshotResult(
        changed=changed,
        commit=head.id.decode(),
        pending=run.pending,
        retry_after=run.retry_after,
        lfs_files=run.lfs_files,
        tracked_files=len(run.new),
        last_commit_message=head.message.decode("utf-8", "replace").rstrip("\n"),
        last_commit_at=float(head.commit_time),
        last_commit_author=head.author.decode("utf-8", "replace"),
    )


def _planned_result(run: _Snapshot, head: Commit | None, changed: bool, message: str) -> SnapshotResult:
    """What a dry run found: the commit it would make (if ``changed``) and its files."""
    files = _changed_files(run, head) if changed else []
    return SnapshotResult(
        changed=changed,
        commit=head.id.decode() if head is not None else None,
        pending=run.pending,
        retry_after=run.retry_after,
        lfs_files=run.lfs_files,
        tracked_files=len(run.new),
        last_commit_message=head.message.decode("utf-8", "replace").rstrip("\n") if head is not None else None,
        last_commit_at=float(head.commit_time) if head is not None else None,
        last_commit_author=head.author.decode("utf-8", "replace") if head is not None else None,
        files=files,
        message=message if changed else None,
    )


def _changed_files(run: _Snapshot, head: Commit | None) -> list[SnapshotFile]:
    """The paths whose mode or blob differ between ``head``'s tree and the run's entries."""
    old: dict[bytes, tuple[int, bytes]] = {}
    if head is not None:
        for item in DiskObjectStore(run.objects).iter_tree_contents(head.tree):
            if item.path is not None and item.mode is not None and item.sha is not None:
                old[item.path] = (item.mode, item.sha)
    new = {key: (entry.mode, entry.sha) for key, entry in run.new.items()}
    files = []
    for key in sorted(old.keys() | new.keys()):
        if old.get(key) == new.get(key):
            continue
        rel = os.fsdecode(key)
        if key not in new:
            files.append(SnapshotFile(path=rel, action="delete", size=None, lfs=False))
            continue
        size = run.sizes.get(rel, 0)
        files.append(SnapshotFile(path=rel, action="modify" if key in old else "add", size=size, lfs=size > 0 and run.is_lfs(rel, size)))
    return files


def head_commit(root: Path) -> Commit | None:
    """The commit ``main`` names, or None before the first commit."""
    try:
        return _read_head(root / ".git", DiskRefsContainer(root / ".git"))[1]
    except (FileNotFoundError, NotADirectoryError):
        return None


def head_info(root: Path) -> tuple[str | None, str | None, float | None]:
    """(commit hex, message, commit time) of ``main``, or Nones before the first commit."""
    head = head_commit(root)
    if head is None:
        return None, None, None
    return head.id.decode(), head.message.decode("utf-8", "replace").rstrip("\n"), float(head.commit_time)


def _read_head(git_dir: Path, refs: DiskRefsContainer) -> tuple[ObjectID, Commit | None]:
    """What ``main`` holds (zeros if nothing) and the commit it names, if readable."""
    sha = refs.read_ref(BRANCH)
    if sha is None or sha.startswith(b"ref:"):
        return ObjectID(b"0" * 40), None
    sha = ObjectID(sha.strip())
    try:
        commit = DiskObjectStore(str(git_dir / "objects"))[sha]
    except KeyError:  # history lost: the next commit starts again from a root
        return sha, None
    return sha, commit if isinstance(commit, Commit) else None


def _read_small(fd: int, st: os.stat_result) -> bytes:
    data = os.read(fd, st.st_size + 1)
    if len(data) != st.st_size or os.fstat(fd).st_mtime_ns != st.st_mtime_ns:
        raise lfs.FileChangedError("file changed while it was read")
    return data


def _build_tree(entries: dict[bytes, IndexEntry], trees: dict[ObjectID, Tree]) -> ObjectID:
    """Tree id of ``entries``; every distinct tree object lands once in ``trees``."""
    top: _Tree = {}
    for path, entry in entries.items():
        *folders, name = path.split(b"/")
        node = top
        for folder in folders:
            child = node.setdefault(folder, {})
            assert isinstance(child, dict)
            node = child
        node[name] = (entry.mode, entry.sha)

    def build(node: _Tree) -> ObjectID:
        tree = Tree()
        for name, item in node.items():
            tree.add(name, *((stat.S_IFDIR, build(item)) if isinstance(item, dict) else item))
        trees[tree.id] = tree
        return tree.id

    return build(top)


def _write_object(objects: str, obj: ShaFile) -> None:
    """Write a loose object as git does: under a unique temp name, then rename.

    Like git's default (``core.fsync`` leaves loose objects out) objects are not
    fsynced one by one; the ref and index naming them are. No ``.lock`` is used,
    so a killed run leaves at most a ``tmp_obj_`` file, which ``git gc`` prunes.
    """
    hexsha = obj.id.decode()
    path = os.path.join(objects, hexsha[:2], hexsha[2:])
    if os.path.exists(path):
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = os.path.join(objects, hexsha[:2], f"tmp_obj_{secrets.token_hex(6)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o444)
    try:
        os.write(fd, obj.as_legacy_object())
    finally:
        os.close(fd)
    os.rename(tmp, path)


def _commit(git_dir: Path, refs: DiskRefsContainer, old: ObjectID, parent: Commit | None, tree: ObjectID, message: str, at: int,
            author: bytes, committer: bytes) -> Commit:  # fmt: skip
    commit = Commit()
    commit.tree, commit.parents = tree, [parent.id] if parent is not None else []
    commit.author, commit.committer = author, committer
    commit.author_time = commit.commit_time = at
    commit.author_timezone = commit.commit_timezone = 0
    commit.message = message.rstrip("\n").encode() + b"\n"
    _write_object(str(git_dir / "objects"), commit)
    if not refs.set_if_equals(BRANCH, old, commit.id):  # main.lock, fsync, rename
        raise RepositoryError(f"{BRANCH.decode()} moved while a snapshot was being committed")
    lost = parent is None and old != ObjectID(b"0" * 40)  # the old entries name missing commits
    kind = b"commit" if parent is not None else b"commit (initial)"
    subject = commit.message.split(b"\n", 1)[0]
    line = format_reflog_line(None if lost else old, commit.id, committer, at, 0, kind + b": " + subject)
    for log in (git_dir / "logs" / "refs" / "heads" / "main", git_dir / "logs" / "HEAD"):
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "wb" if lost else "ab") as f:
            f.write(line + b"\n")
    return commit
