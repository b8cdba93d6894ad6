"""The controller's counters, in the style of controller-runtime.

Counted by ``controller.workers`` (each reconcile's result and duration) and
``controller.resyncing`` (each pass); exposed by :class:`ControllerCollector` (on the embedded
stack's ``/metrics``, or the controller service's own metrics port) and written into the
heartbeat (``controller.heartbeating``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric, SummaryMetricFamily
from prometheus_client.registry import Collector

from controller.reconciling import DONE, Next, Outcome

if TYPE_CHECKING:
    from controller.queueing import WorkQueue


@dataclass
class Metrics:
    reconcile_total: dict[str, int] = field(default_factory=lambda: {"success": 0, "error": 0, "requeue": 0, "skipped": 0})
    reconcile_seconds_sum: float = 0.0
    reconcile_seconds_count: int = 0
    errors_total: int = 0
    resyncs_total: int = 0
    resync_last_seconds: float = 0.0

    def count(self, outcome: Outcome, elapsed: float) -> None:
        """One reconcile: a skipped key (nothing changed) counts apart and takes no time."""
        if outcome.kind is Next.SKIPPED:
            self.reconcile_total["skipped"] += 1
            return
        self.reconcile_seconds_sum += elapsed
        self.reconcile_seconds_count += 1
        if outcome is DONE or outcome.kind in (Next.DONE, Next.STALLED):
            self.reconcile_total["success"] += 1
        elif outcome.kind is Next.REQUEUE:
            self.reconcile_total["requeue"] += 1
        else:
            self.reconcile_total["error"] += 1
            self.errors_total += 1

    def count_resync(self, seconds: float) -> None:
        self.resyncs_total += 1
        self.resync_last_seconds = seconds


class ControllerCollector(Collector):
    """The controller's figures, read when ``/metrics`` is scraped (controller-runtime's
    names where it has one): reconciles by result, errors, time spent, the work queue,
    resync passes."""

    def __init__(self, metrics: Metrics, queue: WorkQueue) -> None:
        self.metrics, self.queue = metrics, queue

    def describe(self) -> Iterator[Metric]:
        return self._families(with_samples=False)

    def collect(self) -> Iterator[Metric]:
        return self._families(with_samples=True)

    def _families(self, *, with_samples: bool) -> Iterator[Metric]:
        m, queue = self.metrics, self.queue
        reconciles = CounterMetricFamily("controller_runtime_reconcile", "Reconciliations per result.", labels=["controller", "result"])
        errors = CounterMetricFamily("controller_runtime_reconcile_errors", "Reconciliation errors.", labels=["controller"])
        took = SummaryMetricFamily("controller_runtime_reconcile_time_seconds", "Time spent reconciling.", labels=["controller"])
        depth = GaugeMetricFamily("workqueue_depth", "Keys waiting in the work queue.", labels=["name"])
        active = GaugeMetricFamily("workqueue_active", "Keys being reconciled now.", labels=["name"])
        resyncs = CounterMetricFamily("auteur_resync", "Full resync passes.")
        last = GaugeMetricFamily("auteur_resync_last_seconds", "Duration of the last resync pass.")
        if with_samples:
            for result, count in m.reconcile_total.items():
                reconciles.add_metric(["project", result], count)
            errors.add_metric(["project"], m.errors_total)
            took.add_metric(["project"], count_value=m.reconcile_seconds_count, sum_value=m.reconcile_seconds_sum)
            depth.add_metric(["project"], len(queue))
            active.add_metric(["project"], queue.active)
            resyncs.add_metric([], m.resyncs_total)
            last.add_metric([], m.resync_last_seconds)
        yield from (reconciles, errors, took, depth, active, resyncs, last)
