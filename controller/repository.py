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
import shutil
import stat
import time
from collections.abc import Callable, Collection, Mapping
from io import BytesIO
from pathlib import Path
from typing import Union

import msgspec
from dulwich.config import ConfigFile
from dulwich.file import GitFile
from dulwich.index import Index, IndexEntry, index_entry_from_stat
from dulwich.object_store import DiskObjectStore
from dulwich.objects import Blob, Commit, ObjectID, ShaFile, Tree
from dulwich.reflog import format_reflog_line
from dulwich.refs import DiskRefsContainer, Ref

from controller import lfs

IDENTITY = b"Auteur <auteur@localhost>"
BRANCH = Ref(b"refs/heads/main")
TRACKED_ROOTS = ("assets", "outputs")
KEEP = ".gitkeep"
# A lock older than this was left by a killed process: no git command of ours or a
# user's holds one for minutes in a project folder.
STALE_LOCK_SECONDS = 300.0
_HEAD = b"ref: refs/heads/main\n"
_LFS_HOOKS = ("pre-push", "post-checkout", "post-commit", "post-merge")
_REQUIRED_CONFIG: tuple[tuple[tuple[bytes, ...], bytes, bytes], ...] = (
    ((b"core",), b"repositoryformatversion", b"0"),
    ((b"core",), b"filemode", b"true"),
    ((b"core",), b"bare", b"false"),
    ((b"core",), b"logallrefupdates", b"true"),
    ((b"user",), b"name", b"Auteur"),
    ((b"user",), b"email", b"auteur@localhost"),
    ((b"lfs",), b"repositoryformatversion", b"0"),
    ((b"filter", b"lfs"), b"required", b"true"),
    ((b"filter", b"lfs"), b"clean", b"git-lfs clean -- %f"),
    ((b"filter", b"lfs"), b"smudge", b"git-lfs smudge -- %f"),
    ((b"filter", b"lfs"), b"process", b"git-lfs filter-process"),
)
_O_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
_O_DIR = _O_READ | os.O_DIRECTORY
# A path that vanished or was swapped for something else (a symlink: ELOOP) since
# it was listed is simply not there this time.
_GONE = (errno.ENOENT, errno.ENOTDIR, errno.ELOOP)
_Tree = dict[bytes, Union["_Tree", tuple[int, ObjectID]]]


class RepositoryError(Exception):
    """``.git`` exists but is something this module must not touch (a file, a link)."""


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


def _config_text() -> bytes:
    sections: dict[tuple[bytes, ...], list[bytes]] = {}
    for section, name, value in _REQUIRED_CONFIG:
        sections.setdefault(section, []).append(b"\t%s = %s\n" % (name, value))
    heads = {s: b"[%s]\n" % s[0] if len(s) == 1 else b'[%s "%s"]\n' % s for s in sections}
    return b"".join(heads[s] + b"".join(lines) for s, lines in sections.items())


def _hook_text(name: str) -> bytes:
    # Byte for byte what git-lfs 3 installs; the "\n" are literal, for echo.
    return (
        '#!/bin/sh\ncommand -v git-lfs >/dev/null 2>&1 || { echo >&2 "\\nThis repository is'
        " configured for Git LFS but 'git-lfs' was not found on your path. If you no longer"
        f" wish to use Git LFS, remove this hook by deleting '.git/hooks/{name}'.\\n\"; exit 2; }}\n"
        f'git lfs {name} "$@"\n'
    ).encode()


_CONFIG = _config_text()


def ensure_repository(root: Path) -> bool:
    """Ensure ``root/.git`` is a repository on ``main`` set up for LFS; True if changed.

    A missing ``.git`` is built under a temporary name and renamed into place, so a
    crash never leaves half a repository. An existing one is repaired in place
    (HEAD, object and ref folders, config entries, LFS hooks); history is kept.
    """
    git_dir = root / ".git"
    try:
        mode = os.lstat(git_dir).st_mode
    except FileNotFoundError:
        return _create_repository(root)
    if not stat.S_ISDIR(mode):
        raise RepositoryError(f"{git_dir} is not a directory")
    _clear_stale_locks(git_dir)
    changed = False
    for folder in ("objects/info", "objects/pack", "refs/heads", "refs/tags"):
        if not os.path.isdir(git_dir / folder):
            os.makedirs(git_dir / folder, exist_ok=True)
            changed = True
    try:
        head = (git_dir / "HEAD").read_bytes()
    except FileNotFoundError:
        head = b""
    if head != _HEAD:
        with GitFile(git_dir / "HEAD", "wb") as f:
            f.write(_HEAD)
        changed = True
    return _ensure_config(git_dir) | _ensure_hooks(git_dir) | changed


def _create_repository(root: Path) -> bool:
    for stale in root.glob(".git.auteur-*"):
        if time.time() - stale.lstat().st_mtime > STALE_LOCK_SECONDS:
            shutil.rmtree(stale, ignore_errors=True)
    tmp = root / f".git.auteur-{secrets.token_hex(4)}"
    for folder in ("", "objects", "objects/info", "objects/pack", "refs", "refs/heads", "refs/tags", "hooks"):
        os.mkdir(tmp / folder)
    _write_new(tmp / "HEAD", _HEAD)
    _write_new(tmp / "config", _CONFIG)
    for hook in _LFS_HOOKS:
        _write_new(tmp / "hooks" / hook, _hook_text(hook), 0o777)
    try:
        os.rename(tmp, root / ".git")
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        if not os.path.lexists(root / ".git"):
            raise
        ensure_repository(root)  # another process won the race: use its repository
    return True


def _write_new(path: Path, data: bytes, mode: int = 0o666) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def _ensure_config(git_dir: Path) -> bool:
    try:
        data = (git_dir / "config").read_bytes()
    except FileNotFoundError:
        data = b""
    if data == _CONFIG:
        return False
    try:
        config = ConfigFile.from_file(BytesIO(data))
    except ValueError:  # unparseable: git cannot use it either
        config = ConfigFile()
    changed = False
    for section, name, value in _REQUIRED_CONFIG:
        try:
            current: bytes | None = config.get(section, name)
        except KeyError:
            current = None
        if current != value:
            config.set(section, name, value)
            changed = True
    if changed:
        config.write_to_path(git_dir / "config")
    return changed


def _ensure_hooks(git_dir: Path) -> bool:
    missing = [h for h in _LFS_HOOKS if not os.path.lexists(git_dir / "hooks" / h)]
    for hook in missing:  # never overwrite a hook someone wrote
        (git_dir / "hooks").mkdir(exist_ok=True)
        _write_new(git_dir / "hooks" / hook, _hook_text(hook), 0o777)
    return bool(missing)


def _clear_stale_locks(git_dir: Path) -> None:
    for name in ("index.lock", "HEAD.lock", "config.lock", "refs/heads/main.lock"):
        try:
            if time.time() - os.stat(git_dir / name).st_mtime > STALE_LOCK_SECONDS:
                os.unlink(git_dir / name)
        except FileNotFoundError:
            pass


class _Snapshot:
    """One pass over a project's files, building the new index entries."""

    def __init__(self, root: Path, is_lfs: Callable[[str, int], bool], now: float, settle: float) -> None:
        self.git_dir = root / ".git"
        self.objects = str(self.git_dir / "objects")
        self.is_lfs, self.now, self.settle = is_lfs, now, settle
        self.known_oids: Mapping[str, str] = {}
        self.old: dict[bytes, IndexEntry] = {}
        self.new: dict[bytes, IndexEntry] = {}
        self.pending: list[str] = []
        self.retry_after: float | None = None
        self.lfs_files = 0

    def visit(self, rel: str, dir_fd: int, name: str, st: os.stat_result, exempt: bool) -> None:
        key = os.fsencode(rel)
        old = self.old.get(key)
        if old is not None and _same_stat(old, st):
            self.new[key] = old
            self.lfs_files += st.st_size > 0 and self.is_lfs(rel, st.st_size)
            return
        # Camera clocks write mtimes in the future; the kernel's ctime is honest.
        changed_at = st.st_ctime if st.st_mtime > self.now + self.settle else st.st_mtime
        if not exempt and self.now - changed_at < self.settle:
            self._defer(rel, old, changed_at + self.settle - self.now)
            return
        fd = os.open(name, _O_READ, dir_fd=dir_fd)
        try:
            fst = os.fstat(fd)
            if fst.st_mtime_ns != st.st_mtime_ns or fst.st_ino != st.st_ino:
                raise lfs.FileChangedError(rel)
            lfs_file = fst.st_size > 0 and self.is_lfs(rel, fst.st_size)
            data = _read_small(fd, fst) if not lfs_file or fst.st_size <= 1024 else b""
            if lfs_file and not lfs.is_pointer(data):  # git-lfs keeps pointers as they are
                oid, size = lfs.store_fd(self.git_dir, fd, self.known_oids.get(rel))
                data = lfs.pointer_bytes(oid, size)
        except lfs.FileChangedError:
            self._defer(rel, old, self.settle)
            return
        finally:
            os.close(fd)
        blob = Blob.from_string(data)
        _write_object(self.objects, blob)
        entry = index_entry_from_stat(fst, blob.id, 0o100755 if fst.st_mode & stat.S_IXUSR else 0o100644)
        entry.size &= 0xFFFFFFFF  # the index keeps 32 bits, as git does
        self.new[key] = entry
        self.lfs_files += lfs_file

    def _defer(self, rel: str, old: IndexEntry | None, wait: float) -> None:
        self.pending.append(rel)
        self.retry_after = wait if self.retry_after is None else min(self.retry_after, wait)
        if old is not None:
            self.new[os.fsencode(rel)] = old
            self.lfs_files += old.size > 0 and self.is_lfs(rel, old.size)

    def include(self, root_fd: int, rel: str) -> None:
        *folders, name = rel.split("/")
        fd = os.dup(root_fd)
        try:
            for folder in folders:
                fd, parent = os.open(folder, _O_DIR, dir_fd=fd), fd
                os.close(parent)
            st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            if stat.S_ISREG(st.st_mode):
                self.visit(rel, fd, name, st, True)
        except OSError as exc:
            if exc.errno not in _GONE:
                raise
        finally:
            os.close(fd)

    def walk(self, dir_fd: int, prefix: str) -> None:
        with os.scandir(dir_fd) as scan:
            entries = sorted(scan, key=lambda e: e.name)
        for entry in entries:
            rel = prefix + entry.name
            if entry.name.lower() == ".git":  # git refuses such paths
                continue
            try:
                if entry.is_dir(follow_symlinks=False):
                    sub = os.open(entry.name, _O_DIR, dir_fd=dir_fd)
                    try:
                        self.walk(sub, rel + "/")
                    finally:
                        os.close(sub)
                elif entry.is_file(follow_symlinks=False):
                    st = entry.stat(follow_symlinks=False)
                    self.visit(rel, dir_fd, entry.name, st, entry.name == KEEP and st.st_size == 0)
            except OSError as exc:
                if exc.errno not in _GONE:
                    raise


def snapshot(
    root: Path,
    *,
    is_lfs: Callable[[str, int], bool],
    now: float,
    settle_seconds: float,
    message: str,
    known_oids: Mapping[str, str] | None = None,
    always_include: Collection[str] = ("project.json", ".gitignore", ".gitattributes"),
) -> SnapshotResult:
    """Commit the settled state of ``root``'s tracked files on ``main``.

    Tracked: ``always_include`` (written atomically by the controller, so never
    waited on) and every regular file under ``assets/`` and ``outputs/``; symlinks
    are never followed. A file whose stat matches its index entry is not read. A
    changed file whose mtime is younger than ``settle_seconds`` is left ``pending``
    (its old version stays) and ``retry_after`` says when to come back. Files
    ``is_lfs`` picks go to ``.git/lfs`` and are committed as pointers; the caller
    keeps ``.gitattributes`` in step so that git agrees. Needs ``ensure_repository``.
    """
    run = _Snapshot(root, is_lfs, now, settle_seconds)
    run.known_oids = known_oids or {}
    _clear_stale_locks(run.git_dir)
    index = Index(run.git_dir / "index")
    run.old = {k: v for k, v in index.items() if isinstance(v, IndexEntry)}
    root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for rel in sorted(always_include):
            run.include(root_fd, rel)
        for top in TRACKED_ROOTS:
            try:
                fd = os.open(top, _O_DIR, dir_fd=root_fd)
            except OSError as exc:
                if exc.errno in _GONE:  # absent, a file, or a symlink: nothing to track
                    continue
                raise
            try:
                run.walk(fd, top + "/")
            finally:
                os.close(fd)
    finally:
        os.close(root_fd)

    refs = DiskRefsContainer(run.git_dir)
    store = DiskObjectStore(run.objects)
    head = refs.read_ref(BRANCH)
    head_commit: Commit | None = None
    if head is not None and not head.startswith(b"ref:"):
        try:
            obj = store[ObjectID(head.strip())]
            head_commit = obj if isinstance(obj, Commit) else None
        except KeyError:  # history lost: start again from a root commit
            head_commit = None
    trees: dict[ObjectID, Tree] = {}
    tree_id = _build_tree(dict(sorted(run.new.items())), trees)
    changed = head_commit is None or head_commit.tree != tree_id
    if changed:
        for tree in trees.values():
            _write_object(run.objects, tree)
        head_commit = _commit(run.git_dir, refs, head_commit, tree_id, message, int(now))
    if changed or run.new != run.old:
        fresh = Index(run.git_dir / "index", read=False)
        for key, entry in sorted(run.new.items()):
            fresh[key] = entry
        fresh.write()  # index.lock, fsync, rename: what git itself does
    assert head_commit is not None
    return SnapshotResult(
        changed=changed,
        commit=head_commit.id.decode(),
        pending=run.pending,
        retry_after=run.retry_after,
        lfs_files=run.lfs_files,
        tracked_files=len(run.new),
        last_commit_message=head_commit.message.decode("utf-8", "replace"),
        last_commit_at=float(head_commit.commit_time),
    )


def _same_stat(entry: IndexEntry, st: os.stat_result) -> bool:
    return (
        entry.flags == entry.extended_flags == 0  # no stage, intent-to-add or skip-worktree
        and entry.size == st.st_size & 0xFFFFFFFF
        and entry.mtime == divmod(st.st_mtime_ns, 1_000_000_000)
        and entry.ctime == divmod(st.st_ctime_ns, 1_000_000_000)
        and entry.ino == st.st_ino & 0xFFFFFFFF
        and entry.mode == (0o100755 if st.st_mode & stat.S_IXUSR else 0o100644)
    )


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
            if isinstance(item, dict):
                tree.add(name, stat.S_IFDIR, build(item))
            else:
                tree.add(name, item[0], item[1])
        trees[tree.id] = tree
        return tree.id

    return build(top)


def _write_object(objects: str, obj: ShaFile) -> None:
    """Write a loose object the way git does: unique temp name, then rename.

    Like git's default (core.fsync leaves out loose objects) there is no fsync per
    object; the ref and the index that name them are fsynced. No ``.lock`` is
    involved, so a killed run leaves only a ``tmp_obj_`` file that ``git gc`` prunes.
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


def _commit(git_dir: Path, refs: DiskRefsContainer, parent: Commit | None, tree: ObjectID, message: str, at: int) -> Commit:
    commit = Commit()
    commit.tree = tree
    commit.parents = [parent.id] if parent is not None else []
    commit.author = commit.committer = IDENTITY
    commit.author_time = commit.commit_time = at
    commit.author_timezone = commit.commit_timezone = 0
    commit.message = message.encode() if message.endswith("\n") else message.encode() + b"\n"
    _write_object(str(git_dir / "objects"), commit)
    old = parent.id if parent is not None else ObjectID(b"0" * 40)
    if not refs.set_if_equals(BRANCH, old, commit.id):
        raise RepositoryError(f"{BRANCH.decode()} moved while a snapshot was being committed")
    subject = commit.message.split(b"\n", 1)[0]
    line = format_reflog_line(old, commit.id, IDENTITY, at, 0, b"commit%s: %s" % (b"" if parent else b" (initial)", subject))
    for log in (git_dir / "logs" / "refs" / "heads" / "main", git_dir / "logs" / "HEAD"):
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "ab") as f:
            f.write(line + b"\n")
    return commit


def head_info(root: Path) -> tuple[str | None, str | None, float | None]:
    """(commit hex, message, commit time) of ``main``, or Nones before the first commit."""
    git_dir = root / ".git"
    try:
        head = DiskRefsContainer(git_dir).read_ref(BRANCH)
        if head is None or head.startswith(b"ref:"):
            return None, None, None
        commit = DiskObjectStore(str(git_dir / "objects"))[ObjectID(head.strip())]
    except (KeyError, FileNotFoundError, NotADirectoryError):
        return None, None, None
    if not isinstance(commit, Commit):
        return None, None, None
    return commit.id.decode(), commit.message.decode("utf-8", "replace"), float(commit.commit_time)
