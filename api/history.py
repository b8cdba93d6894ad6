"""``GET /api/v1/projects/{project_id}/history``: a project's commits, newest first, from git.

Routed by ``api.app.create_app``; the project page (``web.pages``) shows it as a timeline.
The API only reads the repository the controller writes (dulwich's object store, never a
lock, never the working tree). A page starts at the head the controller recorded (or just
before ``before``) and follows first parents for ``limit`` commits; each commit's entry —
who, when, the message, the files it added, modified or deleted with their sizes (an LFS
file's real size, from its pointer) — is made once and kept by commit id, so no request
walks more of history than the page it answers. The same entries also keep, per changed
path, the blob and oid committed (``auteur.versions.Stored``), for ``api.versions``, which
walks them too.
"""

from __future__ import annotations

import collections
import re
import threading
from pathlib import Path
from typing import Annotated, Literal, NamedTuple

import anyio.to_thread
import falcon
import falcon.asgi
import msgspec
from dulwich.diff_tree import tree_changes
from dulwich.object_store import DiskObjectStore
from dulwich.objects import Commit, ObjectID

from api.config import ApiConfig
from api.errors import count_param, invalid, not_found
from api.index import ProjectIndex
from api.projects import find_project
from auteur.versions import Stored, describe_blob

DEFAULT_LIMIT, MAX_LIMIT = 20, 100
COMMIT_PATTERN = "^[0-9a-f]{40}$"
COMMIT_ID = re.compile(COMMIT_PATTERN)
_encode = msgspec.json.Encoder().encode


class FileChange(msgspec.Struct, kw_only=True):
    path: Annotated[str, msgspec.Meta(description="relative to the project, e.g. assets/audio/take.wav")]
    change: Literal["added", "modified", "deleted"]
    size: Annotated[int | None, msgspec.Meta(description="bytes of the file as committed (an LFS file's real size); null when deleted")]


class HistoryItem(msgspec.Struct, kw_only=True):
    commit: str
    time: Annotated[int, msgspec.Meta(description="the author's time (seconds since the epoch)")]
    author: Annotated[str, msgspec.Meta(description="'Name <email>', as git shows it")]
    message: str
    files: list[FileChange]


class HistoryPage(msgspec.Struct, kw_only=True):
    items: list[HistoryItem]
    next: Annotated[str | None, msgspec.Meta(description="pass as before= for the older commits; null at the first commit")]


class Entry(NamedTuple):
    """What is kept of one commit: its history entry, its first parent, and each path it
    changed as it now holds it (None: deleted)."""

    item: HistoryItem
    parent: bytes | None
    changed: dict[str, Stored | None]


class CommitCache:
    """Commit id -> its ``Entry``, for every repository this API reads."""

    def __init__(self, size: int = 50_000) -> None:
        self.size = size
        self._items: collections.OrderedDict[bytes, Entry] = collections.OrderedDict()
        self._lock = threading.Lock()

    def get(self, commit: bytes) -> Entry | None:
        with self._lock:
            found = self._items.get(commit)
            if found is not None:
                self._items.move_to_end(commit)
            return found

    def put(self, commit: bytes, entry: Entry) -> None:
        with self._lock:
            self._items[commit] = entry
            while len(self._items) > self.size:
                self._items.popitem(last=False)


def read_page(git_dir: Path, head: str, before: str | None, limit: int, cache: CommitCache) -> HistoryPage | None:
    """Up to ``limit`` commits from ``head`` (or from just before ``before``); None if ``before``
    is not a commit of this repository."""
    store = DiskObjectStore(str(git_dir / "objects"))
    start: bytes | None = head.encode()
    if before is not None:
        found = read_entry(store, before.encode(), cache)
        if found is None:
            return None
        start = found.parent
    items: list[HistoryItem] = []
    current = start
    while current is not None and len(items) < limit:
        entry = read_entry(store, current, cache)
        if entry is None:
            break  # history cut short (objects missing): what there is
        items.append(entry.item)
        current = entry.parent
    return HistoryPage(items=items, next=items[-1].commit if items and current is not None else None)


def read_entry(store: DiskObjectStore, commit_id: bytes, cache: CommitCache) -> Entry | None:
    """The entry of ``commit_id`` (from the cache, else diffed against its first parent once);
    None if it is not a commit of ``store``."""
    cached = cache.get(commit_id)
    if cached is not None:
        return cached
    try:
        commit = store[ObjectID(commit_id)]
    except (KeyError, ValueError):
        return None
    if not isinstance(commit, Commit):
        return None
    parent = commit.parents[0] if commit.parents else None
    old_tree = store[parent].tree if parent is not None and parent in store else None  # type: ignore[attr-defined]
    files: list[FileChange] = []
    changed: dict[str, Stored | None] = {}
    for change in tree_changes(store, old_tree, commit.tree):
        old, new = change.old, change.new
        if change.type == "delete" and old is not None:
            files.append(FileChange(path=_text(old.path), change="deleted", size=None))
            changed[_text(old.path)] = None
        elif change.type in ("add", "modify") and new is not None and new.sha is not None:
            stored = describe_blob(store, new.sha)
            kind: Literal["added", "modified"] = "added" if change.type == "add" else "modified"
            files.append(FileChange(path=_text(new.path), change=kind, size=stored.size if stored else None))
            changed[_text(new.path)] = stored
    item = HistoryItem(commit=commit_id.decode(), time=commit.author_time, author=_text(commit.author),
                       message=_text(commit.message).strip(), files=files)  # fmt: skip
    entry = Entry(item, parent, changed)
    cache.put(commit_id, entry)
    return entry


def _text(value: bytes | None) -> str:
    return (value or b"").decode("utf-8", "replace")


def page_params(req: falcon.asgi.Request, default: int = DEFAULT_LIMIT, maximum: int = MAX_LIMIT) -> tuple[int, str | None]:
    """``limit`` (``default``, at most ``maximum``) and ``before`` of a page of commits (history,
    versions); 422 naming a bad one."""
    limit = count_param(req, "limit", maximum, minimum=1) or default
    before = req.get_param("before")
    if before is not None and not COMMIT_ID.match(before):
        invalid(f"before must be a commit id (40 hexadecimal digits), not {before!r}", "before")
    return limit, before


class HistoryResource:
    def __init__(self, config: ApiConfig, index: ProjectIndex, cache: CommitCache) -> None:
        self.config, self.index, self.cache = config, index, cache

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response, project_id: str) -> None:
        limit, before = page_params(req)
        key, project = find_project(self.index, project_id)
        head, folder = project.get("current_commit"), project.get("folder")
        page: HistoryPage | None = HistoryPage(items=[], next=None)
        if isinstance(head, str) and isinstance(folder, str):
            git_dir = self.config.settings.workspace / folder / ".git"
            page = await anyio.to_thread.run_sync(read_page, git_dir, head, before, limit, self.cache)
        elif before is not None:
            page = None
        if page is None:
            not_found(f"{before} is not a commit of project {key!r}", "before")
        resp.content_type = falcon.MEDIA_JSON
        resp.data = _encode(page)
