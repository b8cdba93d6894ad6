"""The controller's counters, in the style of controller-runtime.

Counted by ``controller.workers`` (each reconcile's result and duration) and
``controller.resyncing`` (each pass); read by the launcher's ``/metrics`` source and
written into the heartbeat (``controller.heartbeating``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from controller.reconciling import DONE, Next, Outcome


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
