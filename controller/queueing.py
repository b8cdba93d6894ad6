"""The work queue: deduplicated keys, one worker per key, retries with backoff.

Built by ``controller.running``: watchers (through ``controller.inbox``) and the
resync (``controller.resyncing``) ``add`` keys; worker tasks (``controller.workers``)
``get`` a key, run the reconcile in a thread and report the outcome with ``done``.
Fresh events go ahead of resync work, so a startup pass over 10,000 projects never
starves a spec someone just dropped.
"""

from __future__ import annotations

import collections
import heapq
import math
import time
from collections.abc import Callable

import anyio

HIGH, LOW = 0, 1


class Backoff:
    """Capped exponential backoff: base, 2×base, 4×base … at most ``cap`` seconds."""

    def __init__(self, base: float = 0.5, cap: float = 60.0) -> None:
        self.base, self.cap = base, cap

    def delay(self, failures: int) -> float:
        return min(self.cap, self.base * math.pow(2, max(0, failures - 1)))


class WorkQueue:
    def __init__(self, *, clock: Callable[[], float] = time.monotonic, backoff: Backoff | None = None) -> None:
        self.clock = clock
        self.backoff = backoff or Backoff()
        self._ready: tuple[collections.deque[str], collections.deque[str]] = (collections.deque(), collections.deque())
        self._queued: dict[str, int] = {}  # key -> priority while waiting in a ready deque
        self._delayed: list[tuple[float, str]] = []
        self._due: dict[str, float] = {}
        self._active: set[str] = set()
        self._again: dict[str, int] = {}  # added while active: run again afterwards
        self.failures: dict[str, int] = {}
        self._wakeup = anyio.Event()
        self.closed = False
        # Called with True when keys start waiting or being worked on, False when none are left.
        self.on_busy: Callable[[bool], None] | None = None
        self._busy = False

    @property
    def busy(self) -> bool:
        """Whether any key is waiting to be worked on now, or being worked on."""
        return bool(self._active or self._queued)

    def _check_busy(self) -> None:
        if (busy := self.busy) != self._busy:
            self._busy = busy
            if self.on_busy is not None:
                self.on_busy(busy)

    def __len__(self) -> int:
        return len(self._queued) + len(self._due)

    @property
    def active(self) -> int:
        return len(self._active)

    def is_active(self, key: str) -> bool:
        """Whether ``key`` is being worked on right now (safe to call from any thread)."""
        return key in self._active

    def _notify(self) -> None:
        self._wakeup.set()

    def add(self, key: str, priority: int = HIGH) -> None:
        """Schedule ``key`` now. Adding a key that is already waiting does nothing
        (except raise its priority); adding an active key runs it once more after."""
        if key in self._active:
            self._again[key] = min(priority, self._again.get(key, LOW))
            return
        self._due.pop(key, None)
        current = self._queued.get(key)
        if current is not None:
            if priority < current:
                self._ready[current].remove(key)
                self._ready[priority].append(key)
                self._queued[key] = priority
            return
        self._queued[key] = priority
        self._ready[priority].append(key)
        self._notify()
        self._check_busy()

    def add_after(self, key: str, delay: float) -> None:
        """Schedule ``key`` after ``delay`` seconds, unless it is due sooner already."""
        if key in self._queued:
            return
        due = self.clock() + max(0.0, delay)
        if key in self._due and self._due[key] <= due:
            return
        self._due[key] = due
        heapq.heappush(self._delayed, (due, key))
        self._notify()

    def _promote(self) -> float | None:
        now = self.clock()
        while self._delayed:
            due, key = self._delayed[0]
            if self._due.get(key) != due:
                heapq.heappop(self._delayed)
                continue
            if due > now:
                return due - now
            heapq.heappop(self._delayed)
            del self._due[key]
            if key in self._active:
                self._again[key] = HIGH
            elif key not in self._queued:
                self._queued[key] = HIGH
                self._ready[HIGH].append(key)
                self._check_busy()
        return None

    async def get(self) -> str:
        """Wait for the next key that is not being worked on, and mark it active."""
        while not self.closed:
            wait = self._promote()
            for priority in (HIGH, LOW):
                ready = self._ready[priority]
                if ready:
                    key = ready.popleft()
                    del self._queued[key]
                    self._active.add(key)
                    return key
            self._wakeup = anyio.Event()
            with anyio.move_on_after(wait if wait is not None else math.inf):
                await self._wakeup.wait()
        raise anyio.EndOfStream

    def done(self, key: str, *, retry: bool = False, after: float | None = None, stalled: bool = False) -> float | None:
        """Finish ``key``. ``retry`` schedules it with backoff; ``after`` requeues after a
        delay; ``stalled`` leaves it until something changes. Returns the delay, if any."""
        self._active.discard(key)
        delay: float | None = None
        if retry:
            self.failures[key] = self.failures.get(key, 0) + 1
            delay = self.backoff.delay(self.failures[key])
        else:
            self.failures.pop(key, None)
            delay = after
        again = self._again.pop(key, None)
        if again is not None:
            self.add(key, again)
        elif delay is not None and not stalled:
            self.add_after(key, delay)
        self._notify()
        self._check_busy()
        return delay

    def close(self) -> None:
        self.closed = True
        self._notify()
