"""The API's read model of projects: id → the project as the controller reported it.

Built by ``api.app.create_app`` and shared by every resource. Entries are typed
(``ProjectStatus``, shown through ``public()``). It is loaded from the status store at
``start()`` and then fed by the controller's journal: every ``project.*`` event on
the bus (the journal's own listener in the embedded default, the stream the
controller forwards it to in Redis mode) carries the project as reported, and is
applied as it arrives, in journal order. Spec files with no status yet appear as
``processing`` ("a project exists from the moment its spec does"). A background
pass re-reads only the status files whose stat changed, as the safety net under the
events (a dropped connection, a replica started late), every ``interval`` seconds
while no events come and ten times less often while they do. The API's own writes
go in directly (``put``/``remove``) and win over a pass that started before them.
The JSON of the list is cached as bytes, so listing 10,000 projects is a slice and a
join. A view (status, search, order) keeps its ids and counts until the next change:
``GET /api/v1/projects`` with ``q=`` and ``sort=`` reads them, so paging through
10,000 is a slice too.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
import os
import time
import unicodedata
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import anyio.to_thread
import msgspec

from api.config import ApiConfig
from api.waiting import Signature, signature
from auteur.names import project_id
from auteur.specs import SpecError, is_spec_file, read_spec, spec_stem
from auteur.status import Phase, ProjectStatus, StatusStore

log = logging.getLogger("auteur.api.index")

# A project as the API's answers show it: ``ProjectStatus.public()``.
ProjectJson = dict[str, Any]

_encoder = msgspec.json.Encoder()
_LIVE = (Phase.PROCESSING.value, Phase.PENDING.value)
SORTS = ("newest", "name", "changed")  # the orders of GET /api/v1/projects (api.routes documents them)
MAX_VIEWS = 256  # cached searches, at most; any change empties the cache anyway
FULL_SCAN_SECONDS = 10.0
EVENTS_TRUSTED_SECONDS = 5.0


def processing_project(key: str, spec_file: str, *, quality: str | None = None, description: str = "",
                       generation: str | None = None, name: str | None = None) -> ProjectJson:  # fmt: skip
    """The entry of a spec the controller has not reported on yet."""
    return processing_status(key, spec_file, quality=quality, description=description, generation=generation, name=name).public()


def processing_status(key: str, spec_file: str, *, quality: str | None = None, description: str = "",
                      generation: str | None = None, name: str | None = None) -> ProjectStatus:  # fmt: skip
    return ProjectStatus(id=key, name=name or spec_stem(spec_file), status=Phase.PROCESSING, spec_file=spec_file,
                         quality=quality, description=description, generation=generation)  # fmt: skip


@dataclass(frozen=True, slots=True)
class _Entry:
    """One project of the index: the typed status, the dict answers show, its JSON, its place in the order."""

    status: ProjectStatus
    public: ProjectJson
    encoded: bytes
    sort_key: tuple[str, str]
    search: str  # the name as searches compare it (``search_text``)
    collation: str  # the name as sort=name orders it (``collation_key``)
    changed: float  # the last commit's time; not seen yet: +inf (first), never committed: -inf


def search_text(text: str) -> str:
    """What a search compares: NFC, then case-folded (``Ä`` matches ``ä``, ``ß`` matches ``ss``)."""
    return unicodedata.normalize("NFC", text).casefold()


def collation_key(name: str) -> str:
    """Where a name goes in ``sort=name``: case-folded without its accents, so ``Émile`` sits among the e's."""
    return "".join(c for c in unicodedata.normalize("NFKD", name.casefold()) if not unicodedata.combining(c))


@dataclass(frozen=True, slots=True)
class _View:
    """One view of the list: its ids in order, the counts per status of its search, the cached JSON."""

    ids: list[str]
    counts: dict[str, int]
    body: bytes | None = None


@dataclass
class _Scan:
    """What one pass over the status store and the specs folder found (built in a thread)."""

    signatures: dict[str, Signature] = field(default_factory=dict)
    changed: dict[str, ProjectStatus | None] = field(default_factory=dict)
    spec_files: dict[str, list[str]] = field(default_factory=dict)
    new_ids: dict[str, str] = field(default_factory=dict)
    new_specs: dict[str, ProjectStatus] = field(default_factory=dict)


class ProjectIndex:
    def __init__(self, config: ApiConfig, *, interval: float = 0.5, store: StatusStore | None = None) -> None:
        self.config = config
        self.settings = config.settings
        self.interval = interval
        self.store = store or StatusStore(config.settings.state)
        self._entries: dict[str, _Entry] = {}
        self._seen: dict[str, Signature] = {}
        self._spec_ids: dict[str, str] = {}  # spec file name -> id (a name never changes its id)
        self._spec_files: dict[str, list[str]] = {}  # id -> its spec files, as last seen
        self._touched: dict[str, int] = {}
        self._seq = 0
        self._orders: dict[str, list[str]] = {}  # sort -> every id in that order
        self._views: dict[tuple[str | None, str, str], _View] = {}  # (status, sort, search) -> its view
        self._dirs: tuple[int, int] | None = None  # mtimes of the status and specs folders at the last scan
        self._dirs_trusted = False
        self._last_scan = 0.0
        self._last_event = -1e9
        self._loaded = False
        self._tasks: list[asyncio.Task[None]] = []

    # -- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        """Load every status and spec, then keep the index fresh in the background."""
        await self.refresh(force=True)
        self._tasks.append(asyncio.create_task(self._refresh_loop()))
        with contextlib.suppress(Exception):  # the bus only makes it fresher; polling is enough
            self._tasks.append(asyncio.create_task(self._follow_events(self.config.bus.subscribe())))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()

    async def refresh(self, force: bool = False) -> None:
        """One pass: re-read changed status files and look for new or vanished specs.

        Status files are always renamed into place, so an unchanged folder mtime means
        nothing was added, replaced or removed, and the pass stops there. A folder
        touched within the last second may hide a later change in the same clock
        tick, so it is not trusted; a full pass runs every ``FULL_SCAN_SECONDS`` anyway.
        """
        now = time.time()
        dirs = (_mtime_ns(self.store.root), _mtime_ns(self.settings.specs))
        if not force and self._dirs_trusted and dirs == self._dirs and now - self._last_scan < FULL_SCAN_SECONDS:
            return
        self._dirs, self._last_scan = dirs, now
        self._dirs_trusted = now - max(dirs) / 1e9 > 1.0
        seq = self._seq
        self._apply(await anyio.to_thread.run_sync(self._scan, dict(self._seen), set(self._entries)), seq)
        self._loaded = True

    async def _refresh_loop(self) -> None:
        while True:
            # While events arrive they keep entries fresh one by one; a scan of 10,000
            # status files every half second would only compete with them for the CPU.
            following = time.monotonic() - self._last_event < EVENTS_TRUSTED_SECONDS
            await asyncio.sleep(self.interval * (10 if following else 1))
            try:
                await self.refresh()
            except Exception:
                log.exception("refreshing the project index failed; trying again")

    async def _follow_events(self, subscription: Any) -> None:
        """Apply the journal's ``project.*`` events as they arrive: a created or updated
        project is the event's own copy of its status; a deleted one is looked up again
        (its spec may be back)."""
        try:
            while True:
                event = await subscription.get()
                if event is None:
                    return
                key = event.project.get("id") if isinstance(event.project, dict) else None
                if isinstance(key, str) and event.type.startswith("project."):
                    self._last_event = time.monotonic()
                    self.apply_event(event.type, key, event.project)
                if getattr(subscription, "overflowed", False) and subscription.queue.empty():
                    subscription = self.config.bus.subscribe()  # it was cut off; polling covered the gap
        except Exception:
            log.warning("no longer following events; the index keeps polling the status store", exc_info=True)
        finally:
            with contextlib.suppress(Exception):
                subscription.close()

    def _ensure_loaded(self) -> None:
        # Apps driven without the ASGI lifespan (falcon's test client) load on first use.
        if not self._loaded:
            self._apply(self._scan({}, set()), self._seq)
            self._loaded, self._last_scan = True, time.time()

    # -- reading the volume (runs in a thread) -------------------------------------------

    def _scan(self, seen: dict[str, Signature], known: set[str]) -> _Scan:
        found = _Scan()
        with os.scandir(self.store.root) as entries:
            for entry in entries:
                name = entry.name
                if name.endswith(".json") and not name.startswith("."):
                    try:
                        st = entry.stat()
                    except FileNotFoundError:
                        continue
                    found.signatures[name[:-5]] = (st.st_mtime_ns, st.st_ino, st.st_size)
        for key, sig in found.signatures.items():
            if seen.get(key) != sig:
                found.changed[key] = self._read_status(key)
        for name in _spec_files(self.settings.specs):
            owner = self._spec_ids.get(name)  # read-only here: the loop owns the cache
            if owner is None:
                owner = found.new_ids[name] = project_id(spec_stem(name))
            found.spec_files.setdefault(owner, []).append(name)
        for key, names in found.spec_files.items():
            names.sort()
            if key not in found.signatures and key not in known:
                found.new_specs[key] = self._spec_project(key, names[0])
        return found

    def _read_status(self, key: str) -> ProjectStatus | None:
        return self.store.read(key)

    def _spec_project(self, key: str, spec_file: str) -> ProjectStatus:
        try:
            spec = read_spec(self.settings.specs / spec_file)
        except SpecError:
            return processing_status(key, spec_file)
        return processing_status(key, spec_file, name=spec.name, quality=spec.quality.value,
                                 description=spec.description, generation=spec.generation())  # fmt: skip

    def _apply(self, scan: _Scan, started: int) -> None:
        """Merge a scan into the index, skipping ids the API itself wrote since it started."""

        def fresh(key: str) -> bool:
            return self._touched.get(key, -1) <= started

        self._spec_ids.update(scan.new_ids)
        self._spec_files = scan.spec_files

        for key, project in scan.changed.items():
            if not fresh(key):
                continue  # leave _seen alone: the next pass reads it again
            if project is None:
                continue  # vanished or torn between the stat and the read: next pass
            self._seen[key] = scan.signatures[key]
            self._set(key, project)
        for key in [k for k in self._seen if k not in scan.signatures]:
            del self._seen[key]
        for key in list(self._entries):
            if key in scan.signatures or not fresh(key):
                continue
            if key not in scan.spec_files:
                self._drop(key)
            elif self._entries[key].status.status.value not in _LIVE:
                # The status file went away but a spec is there again: a new project.
                self._set(key, self._spec_project(key, scan.spec_files[key][0]))
        for key, project in scan.new_specs.items():
            if key not in self._entries and fresh(key):
                self._set(key, project)

    # -- changing entries ----------------------------------------------------------------

    def _set(self, key: str, status: ProjectStatus) -> None:
        public = status.public()
        old = self._entries.get(key)
        if old is not None and old.public == public:
            return
        created = status.created_at
        # Not yet seen by the controller: the newest of all; unmanaged folders: the oldest.
        live = status.status.value in _LIVE
        sort_key = (created if created else ("~" if live else ""), status.name or "")
        commit = status.last_commit_at
        changed = commit if commit is not None else (float("inf") if live else float("-inf"))
        name = status.name or ""
        entry = _Entry(status, public, _encoder.encode(public), sort_key, search_text(name), collation_key(name), changed)
        if old is None or (old.sort_key, old.changed, old.collation) != (sort_key, changed, entry.collation):
            self._move(key, old is not None, entry)
        else:
            self._entries[key] = entry
        self._views.clear()

    def _drop(self, key: str) -> None:
        if key in self._entries:
            self._move(key, True, None)
            self._views.clear()

    def _move(self, key: str, present: bool, entry: _Entry | None) -> None:
        """Put ``key`` where ``entry`` belongs in every order built so far (or take it out):
        one change while the controller reports 10,000 projects must not re-sort them all."""
        for order in self._orders.values():
            if present:
                order.remove(key)
        if entry is None:
            del self._entries[key]
            return
        self._entries[key] = entry
        for sort, order in self._orders.items():
            bisect.insort(order, key, key=self._place(sort))

    def _place(self, sort: str) -> Callable[[str], tuple[Any, ...]]:
        """What ``_order(sort)`` sorts by, as one ascending key (for one insertion)."""
        entries = self._entries
        if sort == "name":
            return lambda k: (entries[k].collation, entries[k].search, k)
        if sort == "changed":
            return lambda k: (-entries[k].changed, _Descending(entries[k].sort_key[0]), entries[k].sort_key[1], k)
        return lambda k: (_Descending(entries[k].sort_key[0]), entries[k].sort_key[1], k)

    def _touch(self, key: str) -> None:
        self._seq += 1
        self._touched[key] = self._seq

    def put(self, project: ProjectJson | ProjectStatus) -> None:
        """The API's own write: visible at once, whatever a running pass read before."""
        status = project if isinstance(project, ProjectStatus) else msgspec.convert(project, ProjectStatus)
        key = status.id
        self._touch(key)
        spec_file = status.spec_file
        if spec_file is not None and spec_file not in self._spec_files.get(key, ()):
            self._spec_ids[spec_file] = key
            self._spec_files[key] = sorted([*self._spec_files.get(key, ()), spec_file])
        self._set(key, status)

    def apply_event(self, kind: str, key: str, project: ProjectJson) -> None:
        """One journal event: ``project.created``/``project.updated`` carry the status as the
        controller reported it; after ``project.deleted`` the files say what is left."""
        if kind == "project.deleted":
            self.refresh_one(key)
            return
        try:
            status = msgspec.convert(project, ProjectStatus)
        except msgspec.ValidationError:
            log.warning("event %s for %s does not hold a project; reading its status file", kind, key)
            self.refresh_one(key)
            return
        self._ensure_loaded()
        self._touch(key)
        self._set(key, status)

    def remove(self, key: str) -> None:
        self._touch(key)
        self._drop(key)

    def refresh_one(self, key: str) -> ProjectJson | None:
        """Re-read one project's status file (or its spec) now; returns the entry."""
        self._ensure_loaded()
        sig = signature(str(self.store.path(key)))
        status = self._read_status(key) if sig is not None else None
        if status is not None and sig is not None:
            self._touch(key)
            self._seen[key] = sig
            self._set(key, status)
            return self._entries[key].public
        # Spec files this index knows of (the last scan, plus the API's own writes);
        # one dropped in by hand since then shows up on the next scan.
        files = [n for n in self._spec_files.get(key, ()) if (self.settings.specs / n).exists()]
        if files:
            self._touch(key)
            current = self._entries.get(key)
            if current is None or current.status.status.value not in _LIVE:
                self._set(key, self._spec_project(key, files[0]))
            return self._entries[key].public
        if key in self._entries:  # unknown ids (a 404) leave no trace behind
            self._touch(key)
            self._seen.pop(key, None)
            self._drop(key)
        return None

    # -- reading entries -----------------------------------------------------------------

    def get(self, key: str) -> ProjectJson | None:
        self._ensure_loaded()
        entry = self._entries.get(key)
        return entry.public if entry else None

    def status_of(self, key: str) -> ProjectStatus | None:
        """The typed entry (do not modify it: ``put`` a changed copy)."""
        self._ensure_loaded()
        entry = self._entries.get(key)
        return entry.status if entry else None

    def get_json(self, key: str) -> bytes | None:
        self._ensure_loaded()
        entry = self._entries.get(key)
        return entry.encoded if entry else None

    def _order(self, sort: str) -> list[str]:
        order = self._orders.get(sort)
        if order is not None:
            return order
        entries = self._entries
        if sort == "name":
            order = sorted(entries, key=lambda k: (entries[k].collation, entries[k].search, k))
        else:
            order = sorted(entries, key=lambda k: (entries[k].sort_key[1], k))
            order.sort(key=lambda k: entries[k].sort_key[0], reverse=True)  # stable: names stay in order within a time
            if sort == "changed":
                order.sort(key=lambda k: entries[k].changed, reverse=True)  # ties: newest first
        self._orders[sort] = order
        return order

    def _view(self, status: str | None, sort: str, q: str) -> _View:
        """The view's ids; its counts are those of every status the search matches."""
        view = self._views.get((status, sort, q))
        if view is not None:
            return view
        if len(self._views) >= MAX_VIEWS:
            self._views.clear()
        entries = self._entries
        every = self._views.get((None, sort, q))
        if every is None:
            order = self._order(sort)
            matching = [k for k in order if q in entries[k].search] if q else order
            tally = Counter(entries[k].status.status.value for k in matching)
            every = self._views[(None, sort, q)] = _View(matching, {phase.value: tally[phase.value] for phase in Phase})
        if status is None:
            return every
        view = self._views[(status, sort, q)] = _View([k for k in every.ids if entries[k].status.status.value == status], every.counts)
        return view

    def list(self, status: str | None = None, limit: int | None = None, offset: int = 0) -> list[ProjectJson]:
        """Projects newest first (``created_at`` descending, then name)."""
        self._ensure_loaded()
        keys = self._view(status, "newest", "").ids
        end = None if limit is None else offset + limit
        return [self._entries[k].public for k in keys[offset:end]]

    def list_json(self, status: str | None = None, limit: int | None = None, offset: int = 0, *,
                  sort: str = "newest", q: str = "") -> tuple[bytes, int, dict[str, int]]:  # fmt: skip
        """The JSON array for ``GET /api/v1/projects``, the total before paging, and how many
        projects the search matches in each status (whatever ``status`` is).

        ``sort``: ``newest`` (``created_at`` descending, then name), ``name`` (case-folded,
        then id), ``changed`` (the last commit's time, newest first; projects the controller
        has not reported on yet come first, projects without a commit last). ``q``: only
        names containing it, compared as ``search_text`` does."""
        self._ensure_loaded()
        q = search_text(q)
        view = self._view(status, sort, q)
        keys = view.ids
        if limit is None and offset == 0:
            body = view.body
            if body is None:
                body = b"[" + b",".join([self._entries[k].encoded for k in keys]) + b"]"
                self._views[(status, sort, q)] = _View(keys, view.counts, body)
            return body, len(keys), view.counts
        end = None if limit is None else offset + limit
        return b"[" + b",".join([self._entries[k].encoded for k in keys[offset:end]]) + b"]", len(keys), view.counts

    def counts(self) -> dict[str, int]:
        """Projects by status (for ``/metrics``)."""
        self._ensure_loaded()
        counts = {phase.value: 0 for phase in Phase}
        for entry in self._entries.values():
            counts[entry.status.status.value] += 1
        return counts

    def __len__(self) -> int:
        self._ensure_loaded()
        return len(self._entries)


@dataclass(frozen=True, slots=True)
class _Descending:
    """A string that sorts the other way round (newest first, inside an ascending key)."""

    text: str

    def __lt__(self, other: _Descending) -> bool:
        return self.text > other.text


def _mtime_ns(folder: os.PathLike[str]) -> int:
    try:
        return os.stat(folder).st_mtime_ns
    except FileNotFoundError:
        return 0


def _spec_files(folder: os.PathLike[str]) -> list[str]:
    try:
        return [n for n in os.listdir(folder) if is_spec_file(n)]
    except FileNotFoundError:
        return []
