"""The background media integrity pass: one project at a time, rate-limited, resumable.

Run by ``controller.running`` as one task of the loop. A pass visits every owned project in id
order and has it checked by a process of its own (``controller.checker``, which runs
``controller.integrity.check_projects``) at the lowest CPU and disk priority (``SCHED_IDLE`` and
the idle I/O class: it takes only what nothing else wants), reading at most
``integrity_rate_bytes`` a second (``controller.integrity.Throttle``) and resting
``integrity_pause_seconds`` between projects; a new pass starts ``integrity_interval_seconds``
after the last one started. A process, not threads of the controller: those would hold up its
other threads on the interpreter's lock (see ``controller.checker``). While the controller has
work of its own (keys waiting or being reconciled: ``WorkQueue.on_busy``) the checker is held
where it is (``SIGSTOP``), for at most ``_MAX_HOLD_SECONDS`` at a time, so a create never shares
the machine with it. Projects are checked one after another, two LFS objects hashed at a time
(the next project's first one only once the current one's last has started); the next few are
planned meanwhile (their trees, pointers and inodes read, the start of their objects asked of
the disk), so those latency-bound reads overlap the sequential ones instead of adding to them.
Where a pass is lives in a cursor file in the state folder (``auteur.layout.INTEGRITY_CURSOR``, written atomically
after each project), so a restarted controller carries on after the last project it finished.

It stays out of the reconciler's way: a project that is not ready, or being reconciled, is left
for the next pass; the project lock is taken only to write the result (at normal priority),
never while hashing, and a result is dropped if HEAD moved while it was checked. A project whose
HEAD and files have not changed since its last clean check is skipped until
``integrity_recheck_seconds`` have passed.
The result goes into the project's status through the reconciler's ``StatusRecorder`` (the one
writer of status): ``media_findings`` and the ``MediaIntegrityFailed`` condition
(``controller.reporting.with_media_findings``), and into ``controller.metrics``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import anyio
import anyio.to_thread
import msgspec

from auteur.atomic import write_atomic
from auteur.layout import INTEGRITY_CURSOR
from auteur.settings import Settings
from auteur.status import Phase, ProjectStatus
from controller import reporting
from controller.checker import Checker, CheckerDied
from controller.integrity import Report
from controller.locking import project_lock
from controller.metrics import Metrics
from controller.queueing import WorkQueue
from controller.reconciling import Reconciler

log = logging.getLogger("auteur.controller")
_RETRY_SECONDS = 60.0
_MAX_HOLD_SECONDS = 10.0


class Cursor(msgspec.Struct, kw_only=True):
    """Where the pass is: when it started, the last project id it finished, when it ended."""

    started_at: float = 0.0
    after: str = ""
    finished_at: float | None = None


def read_cursor(state: Path) -> Cursor | None:
    try:
        return msgspec.json.decode((state / INTEGRITY_CURSOR).read_bytes(), type=Cursor)
    except (FileNotFoundError, msgspec.DecodeError, msgspec.ValidationError):
        return None


def write_cursor(state: Path, cursor: Cursor) -> None:
    write_atomic(state / INTEGRITY_CURSOR, msgspec.json.encode(cursor), durable=False)


class Scrub:
    """The controller's media integrity pass (one per controller process)."""

    def __init__(self, settings: Settings, reconciler: Reconciler, queue: WorkQueue, metrics: Metrics, *,
                 clock: Callable[[], float] = time.time) -> None:  # fmt: skip
        self.settings, self.reconciler, self.queue, self.metrics = settings, reconciler, queue, metrics
        self.clock = clock

    async def loop(self) -> None:
        """Pass after pass until cancelled; nothing at all when the interval is 0."""
        if self.settings.integrity_interval_seconds <= 0:
            return
        await anyio.to_thread.run_sync(self._seed_metrics)
        while True:
            cursor = await anyio.to_thread.run_sync(read_cursor, self.settings.state)
            wait = self._until_next(cursor)
            if wait > 0:
                await anyio.sleep(min(wait, 60.0))
                continue
            if await self.run_pass(cursor) is None:
                await anyio.sleep(_RETRY_SECONDS)  # the checker died: not at once again

    def _until_next(self, cursor: Cursor | None) -> float:
        if cursor is None or cursor.finished_at is None:
            return 0.0  # never ran, or a pass to finish
        return cursor.started_at + self.settings.integrity_interval_seconds - self.clock()

    async def run_pass(self, cursor: Cursor | None = None) -> Cursor | None:
        """Check every project after the cursor's (all of them for a new pass); None if stopped."""
        if cursor is None or cursor.finished_at is not None:
            cursor = Cursor(started_at=self.clock())
        keys = await anyio.to_thread.run_sync(self.reconciler.owners.ids)
        todo = [key for key in sorted(keys) if key > cursor.after]
        memos: dict[str, str] = {}

        def planned() -> Iterator[tuple[str, Path]]:  # lazily, in the thread that reads the answers
            for key in todo:
                if (item := self._plan(key)) is not None:
                    memos[key] = item[2]
                    yield key, item[1]

        settings = self.settings
        checker = Checker(rate=settings.integrity_rate_bytes, large_file_bytes=settings.large_file_bytes,
                          pause=settings.integrity_pause_seconds)  # fmt: skip
        results = checker.check(planned())
        self.queue.on_busy = checker.pause  # held while the controller has work of its own
        checker.pause(self.queue.busy)
        died: CheckerDied | None = None
        try:
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(self._unstarve, checker)
                try:
                    while (step := await anyio.to_thread.run_sync(next, results, None, abandon_on_cancel=True)) is not None:
                        key, report = step
                        await self.record(key, report, memos.pop(key))
                        cursor.after = key
                        await anyio.to_thread.run_sync(write_cursor, settings.state, cursor)
                except CheckerDied as exc:
                    died = exc
                tasks.cancel_scope.cancel()
        finally:  # also when the loop is cancelled: the checker's reads stop at once
            self.queue.on_busy = None
            checker.stop()
        if died is not None:
            log.warning("media integrity pass stopped after %s: %s", cursor.after or "no project", died)
            return None
        if todo:
            cursor.after = todo[-1]
        cursor.finished_at = self.metrics.integrity_last_pass = self.clock()
        await anyio.to_thread.run_sync(write_cursor, self.settings.state, cursor)
        failing = len(self.metrics.integrity_findings)
        log.log(logging.WARNING if failing else logging.INFO, "media integrity pass done: %d project(s) with findings", failing)
        return cursor

    async def _unstarve(self, checker: Checker) -> None:
        """A controller that never runs out of work still gets its pass done: the checker is
        held at most ``_MAX_HOLD_SECONDS`` at a time, then let go until the controller is idle
        and busy again."""
        while True:
            await anyio.sleep(1.0)
            if checker.held_for() > _MAX_HOLD_SECONDS:
                checker.pause(False)

    async def record(self, key: str, report: Report | Exception, memo: str) -> None:
        if not isinstance(report, Report):
            log.warning("%s: media integrity not checked: %s", key, report)
        elif await anyio.to_thread.run_sync(self._record, key, report, memo):
            self.metrics.count_integrity(key, len(report.findings), report.bytes_checked)

    def _plan(self, key: str) -> tuple[str, Path, str] | None:
        """(key, folder, memo) to check ``key`` now, or None: not ready, being reconciled, or
        unchanged since its last clean check (less than ``integrity_recheck_seconds`` ago)."""
        status = self.reconciler.status_of(key)
        owner = self.reconciler.owners.get(key)
        if status is None or owner is None or status.status is not Phase.READY or self.queue.is_active(key):
            return None
        # Its commit and its files as the reconciler last saw them (their recorded fingerprint: a
        # change to them since is a reconcile on its way, which records a new one); not walked
        # here, where the reads would be the controller's, at its priority, not the checker's.
        memo = f"{status.current_commit} {status.fingerprint}"
        if status.fingerprint is not None and _clean_since(status, memo) > self.clock() - self.settings.integrity_recheck_seconds:
            return None
        return key, self.settings.workspace / owner.folder, memo

    def _record(self, key: str, report: Report, memo: str) -> bool:
        """Write what the check found into the status (under the project lock, briefly); False
        when the project moved on meanwhile (a new commit, not ready): the next pass sees it."""
        with project_lock(self.settings.state, key):
            status = self.reconciler.status_of(key)
            if status is None or status.status is not Phase.READY or status.current_commit != report.commit:
                return False
            now = self.clock()
            checked = None if report.findings else f"{memo} {now}"
            updated = reporting.with_media_findings(status, report.findings, checked, now)
            if updated is not status:
                self.reconciler.fence()  # a controller that lost its lease writes no status
                self.reconciler.recorder.record(status, updated)
        return True

    def _seed_metrics(self) -> None:
        """The findings gauge as the statuses on the volume say, before the first check."""
        for status in self.reconciler.statuses.read_all():
            if status.media_findings:
                self.metrics.integrity_findings[status.id] = len(status.media_findings)
        cursor = read_cursor(self.settings.state)
        if cursor is not None and cursor.finished_at is not None:
            self.metrics.integrity_last_pass = cursor.finished_at


def _clean_since(status: ProjectStatus, memo: str) -> float:
    """When ``status``'s last clean check saw exactly ``memo`` (its commit and files), else 0."""
    seen, _, at = (status.integrity_checked or "").rpartition(" ")
    if status.media_findings or seen != memo:
        return 0.0
    try:
        return float(at)
    except ValueError:
        return 0.0
