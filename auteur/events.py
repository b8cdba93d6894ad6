"""Events: their schema, ordered ids, and the capped journal on the volume.

The controller appends every status change here (``Journal.append``); the API
replays it for ``?since=`` and, in Redis mode, a publisher forwards it to a
stream. Ids are ``<ms>-<seq>`` and ordered. The journal is a set of JSON-lines
segments; a reader ignores a torn last line, so appends need no rename.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec

from auteur.atomic import write_atomic
from auteur.layout import EVENTS_DIR

SEGMENT_EVENTS = 5_000
TRIMMED = "trimmed"
KEEP_SEGMENTS = 4


class Event(msgspec.Struct, kw_only=True):
    id: str
    type: str
    project: dict[str, Any] = msgspec.field(default_factory=dict)
    at: float = 0.0
    data: dict[str, Any] = msgspec.field(default_factory=dict)
    # The name of the person whose request caused it (an API create, edit, delete, restore or
    # upload); null when nobody is known (auth off, a spec or a file dropped in by hand).
    actor: str | None = None


def id_key(event_id: str) -> tuple[int, int]:
    """Sort key of an event id; raises ValueError on a malformed id."""
    ms, _, seq = event_id.partition("-")
    return int(ms), int(seq or 0)


class IdMaker:
    """Makes strictly increasing ``<ms>-<seq>`` ids, even if the clock steps back."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._last = (0, 0)
        self._lock = threading.Lock()

    def observe(self, event_id: str) -> None:
        with self._lock:
            self._last = max(self._last, id_key(event_id))

    def __call__(self) -> str:
        with self._lock:
            ms = int(self._clock() * 1000)
            last_ms, last_seq = self._last
            self._last = (ms, 0) if ms > last_ms else (last_ms, last_seq + 1)
            return f"{self._last[0]}-{self._last[1]}"


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Event)


class Journal:
    """Append-only, capped event log under ``workspace/.auteur/events/``.

    One writer (the controller) appends; any number of readers replay.
    """

    def __init__(self, state_dir: Path, clock: Callable[[], float] = time.time) -> None:
        self.root = state_dir / EVENTS_DIR
        self.root.mkdir(parents=True, exist_ok=True)
        self.clock = clock
        self.ids = IdMaker(clock)
        self._lock = threading.Lock()
        self._handle: Any = None
        self._count = 0
        last = self.last_id()
        if last:
            self.ids.observe(last)
        self.listeners: list[Callable[[Event], None]] = []

    def segments(self) -> list[Path]:
        names = [n for n in os.listdir(self.root) if n.endswith(".jsonl")]
        return [self.root / n for n in sorted(names, key=lambda n: id_key(n[:-6]))]

    def append(self, kind: str, project: dict[str, Any], data: dict[str, Any] | None = None, *, actor: str | None = None) -> Event:
        with self._lock:
            event = Event(id=self.ids(), type=kind, project=project, at=self.clock(), data=data or {}, actor=actor)
            if self._handle is None or self._count >= SEGMENT_EVENTS:
                self._rotate(event.id)
            self._handle.write(_encoder.encode(event) + b"\n")
            self._handle.flush()
            self._count += 1
            # Inside the lock, so listeners see events in id order; publishing never blocks.
            for listener in list(self.listeners):
                listener(event)
        return event

    def _rotate(self, first_id: str) -> None:
        if self._handle is not None:
            self._handle.close()
        self._handle = open(self.root / f"{first_id}.jsonl", "ab")
        self._count = 0
        doomed = self.segments()[:-KEEP_SEGMENTS]
        if doomed:
            # Remember where history now starts, so a reader asking for less gets "resync".
            last = None
            for event in self._read(doomed[-1]):
                last = event.id
            write_atomic(self.root / TRIMMED, (last or doomed[-1].name[:-6]).encode())
        for old in doomed:
            old.unlink(missing_ok=True)

    def close(self) -> None:
        with self._lock:
            if self._handle is not None:
                self._handle.close()
                self._handle = None

    @staticmethod
    def _read(path: Path) -> Iterator[Event]:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return
        for line in data.split(b"\n"):
            if not line:
                continue
            try:
                yield _decoder.decode(line)
            except (msgspec.DecodeError, msgspec.ValidationError):
                continue  # a torn last line from a crash

    def last_id(self) -> str | None:
        segments = self.segments()
        for path in reversed(segments):
            last = None
            for event in self._read(path):
                last = event.id
            if last:
                return last
        return None

    def since(self, event_id: str | None) -> tuple[bool, list[Event]]:
        """Events after ``event_id``. Returns (complete, events): ``complete`` is False
        when the id is older than what the journal keeps (the caller must resync)."""
        if event_id is None:
            return True, []
        key = id_key(event_id)
        try:
            trimmed = id_key((self.root / TRIMMED).read_text().strip())
        except (FileNotFoundError, ValueError):
            trimmed = (0, 0)
        if key < trimmed:
            return False, []
        segments = self.segments()
        out: list[Event] = []
        for index, path in enumerate(segments):
            if index + 1 < len(segments) and id_key(segments[index + 1].name[:-6]) <= key:
                continue
            out.extend(event for event in self._read(path) if id_key(event.id) > key)
        return True, out
