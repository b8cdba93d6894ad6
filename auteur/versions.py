"""One file as a commit holds it: its blob, its oid, its size, and where its bytes are.

Shared by the API, which lists a file's versions and serves an old one (``api.history``,
``api.versions``, ``api.assets``), and the worker, which copies an old version back into
place (``worker.restoring``). Only the object store and the LFS store are read, never the
working tree and never a lock: what a commit holds does not change.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import NamedTuple

from dulwich.errors import NotTreeError
from dulwich.object_store import DiskObjectStore, tree_lookup_path
from dulwich.objects import Blob, Commit, ObjectID

_LFS_VERSION = b"version https://git-lfs.github.com/spec/"
_LFS_SIZE = re.compile(rb"^size (\d+)$", re.M)
_LFS_OID = re.compile(rb"^oid sha256:([0-9a-f]{64})$", re.M)


class Stored(NamedTuple):
    """One file as a commit holds it."""

    blob: bytes  # the git blob id (hex)
    oid: str  # an LFS file's sha256 oid (from its pointer), else the blob id
    size: int  # an LFS file's real size, else the blob's
    lfs: bool


class Version(NamedTuple):
    """A file at one commit: ``stored`` as of ``time`` (the commit's author time)."""

    commit: str
    time: int
    stored: Stored


def open_store(git_dir: Path) -> DiskObjectStore:
    return DiskObjectStore(str(git_dir / "objects"))


def lfs_pointer(data: bytes) -> tuple[str, int] | None:
    """(oid, size) of an LFS pointer file's content; None for any other content."""
    if not data.startswith(_LFS_VERSION) or len(data) >= 1024:
        return None
    oid, size = _LFS_OID.search(data), _LFS_SIZE.search(data)
    if oid is None or size is None:
        return None
    return oid.group(1).decode(), int(size.group(1))


def describe_blob(store: DiskObjectStore, sha: bytes) -> Stored | None:
    """The blob ``sha`` as a file: its oid and size (an LFS pointer's, else its own); None
    if it is not a blob."""
    try:
        blob = store[ObjectID(sha)]
    except KeyError:
        return None
    if not isinstance(blob, Blob):
        return None
    data = blob.as_raw_string()
    pointer = lfs_pointer(data)
    if pointer is not None:
        return Stored(sha, pointer[0], pointer[1], True)
    return Stored(sha, sha.decode(), len(data), False)


def find_version(git_dir: Path, commit: str, relpath: str) -> Version | None:
    """``relpath`` as ``commit`` holds it; None if ``commit`` is not a commit of the
    repository or holds no regular file there."""
    store = open_store(git_dir)
    try:
        found = store[ObjectID(commit.encode())]
    except (KeyError, ValueError):
        return None
    if not isinstance(found, Commit):
        return None
    try:
        mode, sha = tree_lookup_path(store.__getitem__, found.tree, os.fsencode(relpath))
    except (KeyError, NotTreeError):
        return None
    if not stat.S_ISREG(mode):
        return None  # a symlink or a submodule: not a file anybody stored
    stored = describe_blob(store, sha)
    return Version(commit, found.author_time, stored) if stored is not None else None


def lfs_object(git_dir: Path, oid: str) -> Path:
    """Where the LFS store keeps the bytes of ``oid``."""
    return git_dir / "lfs" / "objects" / oid[0:2] / oid[2:4] / oid


def blob_bytes(git_dir: Path, stored: Stored) -> bytes:
    """The content of a plain (not LFS) blob: at most the large-file threshold, as anything
    bigger goes through LFS."""
    blob = open_store(git_dir)[ObjectID(stored.blob)]
    assert isinstance(blob, Blob)
    return blob.as_raw_string()
