"""Reconciles in child processes, for when the interpreter lock binds.

Called by ``controller.running`` when ``AUTEUR_PROCESSES`` > 1. Each child holds
its own ``Reconciler`` (no status cache) and returns the outcome, the status it
wrote and the events it produced; the parent keeps the one journal and the one
status cache, so there is still a single writer of events.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from auteur.settings import Settings
from auteur.status import ProjectStatus
from controller.reconciling import Outcome, Reconciler


class _Collector:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any], dict[str, Any] | None]] = []

    def append(self, kind: str, project: dict[str, Any], data: dict[str, Any] | None = None) -> None:
        self.events.append((kind, project, data))


_reconciler: Reconciler | None = None
_collector = _Collector()

Result = tuple[Outcome, ProjectStatus | None, list[tuple[str, dict[str, Any], dict[str, Any] | None]]]


def _init(settings: Settings) -> None:
    global _reconciler
    _reconciler = Reconciler(settings, journal=_collector, cache=False)


def _reconcile(key: str) -> Result:
    assert _reconciler is not None
    _collector.events = []
    outcome = _reconciler.reconcile(key)
    return outcome, _reconciler.statuses.read(key), _collector.events


class ReconcilePool:
    def __init__(self, settings: Settings, processes: int) -> None:
        context = multiprocessing.get_context("forkserver")
        self.executor = ProcessPoolExecutor(processes, mp_context=context, initializer=_init, initargs=(settings,))

    def reconcile(self, key: str) -> Result:
        return self.executor.submit(_reconcile, key).result()

    def close(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)
