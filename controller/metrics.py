"""The controller's counters, in the style of controller-runtime.

Counted by ``controller.workers`` (each reconcile's result and duration),
``controller.resyncing`` (each pass) and ``controller.scrubbing`` (the media integrity pass:
findings per project, bytes read, when the last pass ended); exposed by :class:`ControllerCollector` (on the embedded
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
    integrity_findings: dict[str, int] = field(default_factory=dict)  # project id -> files at fault
    integrity_bytes_total: int = 0
    integrity_projects_total: int = 0
    integrity_last_pass: float = 0.0

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

    def count_integrity(self, project: str, findings: int, checked_bytes: int) -> None:
        """One project's media integrity check: a clean one drops out of the findings gauge."""
        self.integrity_projects_total += 1
        self.integrity_bytes_total += checked_bytes
        if findings:
            self.integrity_findings[project] = findings
        else:
            self.integrity_findings.pop(project, None)


class ControllerCollector(Collector):
    """The controller's figures, read when ``/metrics`` is scraped (controller-runtime's
    names where it has one): reconciles by result, errors, time spent, the work queue,
    resync passes, the media integrity pass."""

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
        integrity = self._integrity_families(with_samples=with_samples)
        if with_samples:
            for result, count in m.reconcile_total.items():
                reconciles.add_metric(["project", result], count)
            errors.add_metric(["project"], m.errors_total)
            took.add_metric(["project"], count_value=m.reconcile_seconds_count, sum_value=m.reconcile_seconds_sum)
            depth.add_metric(["project"], len(queue))
            active.add_metric(["project"], queue.active)
            resyncs.add_metric([], m.resyncs_total)
            last.add_metric([], m.resync_last_seconds)
        yield from (reconciles, errors, took, depth, active, resyncs, last, *integrity)

    def _integrity_families(self, *, with_samples: bool) -> tuple[Metric, ...]:
        m = self.metrics
        per_project = GaugeMetricFamily("auteur_media_integrity_findings", "Files the last media integrity check found at fault.",
                                        labels=["project"])  # fmt: skip
        projects = GaugeMetricFamily("auteur_media_integrity_projects_failing", "Projects with media integrity findings.")
        checked = CounterMetricFamily("auteur_media_integrity_checked_bytes", "Bytes the media integrity pass read.")
        count = CounterMetricFamily("auteur_media_integrity_checks", "Projects the media integrity pass checked.")
        last = GaugeMetricFamily("auteur_media_integrity_last_pass_timestamp_seconds", "When the last full integrity pass ended.")
        if with_samples:
            for project, findings in sorted(m.integrity_findings.items()):
                per_project.add_metric([project], findings)
            projects.add_metric([], len(m.integrity_findings))
            checked.add_metric([], m.integrity_bytes_total)
            count.add_metric([], m.integrity_projects_total)
            last.add_metric([], m.integrity_last_pass)
        return per_project, projects, checked, count, last
