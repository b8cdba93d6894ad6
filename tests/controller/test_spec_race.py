"""A spec replaced while a reconcile runs (a PATCH racing it) is never recorded as converged.

The schemathesis run of tests/api/test_contract.py found it: a PATCH that replaced the spec
while a reconcile of the old one was running waited in vain, because that run recorded the new
spec's fingerprint with the old generation and the run it queued skipped as up to date.
"""

from __future__ import annotations

from helpers import write_spec

import controller.reconciling
from auteur.specs import Spec, read_spec
from controller.reconciling import Reconciler


def test_a_spec_replaced_after_it_was_read_is_reconciled_again(settings, clock, monkeypatch):
    rec = Reconciler(settings, clock=clock)
    write_spec(settings, "race.yaml", "name: race\nquality: draft\n")
    assert rec.reconcile("race").kind == "done"
    write_spec(settings, "race.yaml", "name: race\nquality: standard\n")

    def read_then_patched(path):
        spec = read_spec(path)
        write_spec(settings, "race.yaml", "name: race\nquality: premium\n")  # lands while the run goes on
        return spec

    monkeypatch.setattr(controller.reconciling, "read_spec", read_then_patched)
    assert rec.reconcile("race").kind == "done"
    assert rec.status_of("race").quality == "standard"
    monkeypatch.undo()
    assert rec.needs_reconcile("race"), "the run recorded the patched spec as converged"
    rec.reconcile("race")
    status = rec.status_of("race")
    assert status.quality == "premium" and status.observed_generation == Spec(name="race", quality="premium").generation()
    assert not rec.needs_reconcile("race")


def test_a_bad_spec_fixed_after_it_was_read_is_reconciled_again(settings, clock, monkeypatch):
    rec = Reconciler(settings, clock=clock)
    write_spec(settings, "race.yaml", "name: race\nqualty: draft\n")  # a typo: failed for good

    def read_then_fixed(path):
        try:
            return read_spec(path)
        finally:
            write_spec(settings, "race.yaml", "name: race\nquality: draft\n")

    monkeypatch.setattr(controller.reconciling, "read_spec", read_then_fixed)
    assert rec.reconcile("race").kind == "stalled"
    monkeypatch.undo()
    assert rec.needs_reconcile("race")
    assert rec.reconcile("race").kind == "done"
