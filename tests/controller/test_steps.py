"""A table test per reconcile step: the state before, the step's result, and the
conditions the report sets from it; then the same for ``reporting.status_for``.

Each case prepares a real folder (and the steps before it, run for real), runs one
step through ``converge``'s own machinery and judges what it returns; the reporting
table feeds ``status_for`` observations by hand, since it is a pure function.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import drop_file, write_spec

from auteur.layout import MANIFEST
from auteur.status import Phase, ProjectStatus
from controller import steps
from controller.converging import Absence, Next, Observation, converge
from controller.ownership import Owner, Owners
from controller.reporting import status_for
from controller.specindex import SpecIndex
from controller.steps import Attempt, Result, Stalled
from controller.trash import Trash

NOW = 1_800_000_000.0
STEP_NAMES = [thing for thing, _ in steps.STEPS]


def attempt_for(settings, key: str = "film", now: float = NOW) -> Attempt:
    attempt = Attempt(
        key=key, settings=settings, now=now, specs=SpecIndex(settings.specs), owners=Owners(settings.state), trash=Trash(settings.state)
    )
    attempt.spec_files = attempt.specs.files_for(key)
    attempt.owner = attempt.owners.get(key)
    return attempt


def run_until(attempt: Attempt, name: str) -> Callable[[Attempt], Result]:
    """Run every step before ``name`` for real; return ``name``'s step."""
    for thing, step in steps.STEPS:
        if thing == name:
            return step
        assert step(attempt) is not None
        attempt.passed.append(thing)
    raise AssertionError(f"no step {name}")


def converged(settings) -> None:
    """A project 'film' converged once, at an old clock (its files long settled)."""
    write_spec(settings, "film.yaml", "name: film\n")
    assert converge(attempt_for(settings, now=NOW - 3600), None).outcome.kind is Next.DONE


# -- one table: (step, how the folder is before, the result or the failure) ------------------


def nothing(settings, root: Path) -> None:
    pass


def spec_only(settings, root: Path) -> None:
    write_spec(settings, "film.yaml", "name: film\n")


def bad_spec(settings, root: Path) -> None:
    write_spec(settings, "film.yaml", "name: film\nquality: ultra\n")


def duplicate_specs(settings, root: Path) -> None:
    write_spec(settings, "film.yaml", "name: film\n", mtime=NOW - 100)
    write_spec(settings, "Film.yml", "name: Film\n", mtime=NOW - 50)


def foreign_folder(settings, root: Path) -> None:
    spec_only(settings, root)
    (root / "notes").mkdir(parents=True)


def file_in_the_way(settings, root: Path) -> None:
    spec_only(settings, root)
    root.parent.mkdir(parents=True, exist_ok=True)
    root.write_text("not a folder")


def adoptable_folder(settings, root: Path) -> None:
    spec_only(settings, root)
    root.mkdir(parents=True)
    (root / MANIFEST).write_text('{"id": "film", "created_at": "2020-01-01T00:00:00Z"}')


def renamed_spec(settings, root: Path) -> None:
    converged(settings)
    (settings.specs / "film.yaml").unlink()
    write_spec(settings, "film.yaml", "name: film\n")  # same id...
    Owners(settings.state).put(Owner(id="film", folder="film-old", spec_file="film.yaml", created_at="2020-01-01T00:00:00Z"))
    os.rename(root, root.parent / "film-old")  # ...whose folder had the old name


def layout_file_in_the_way(settings, root: Path) -> None:
    converged(settings)
    (root / "assets" / "audio" / ".gitkeep").unlink()
    os.rmdir(root / "assets" / "audio")
    (root / "assets" / "audio").write_text("in the way")


def missing_keep(settings, root: Path) -> None:
    converged(settings)
    (root / "outputs" / "renders" / ".gitkeep").unlink()


def edited_manifest(settings, root: Path) -> None:
    converged(settings)
    (root / MANIFEST).write_text("{}")


def symlinked_gitignore(settings, root: Path) -> None:
    converged(settings)
    (root / ".gitignore").unlink()
    (root / ".gitignore").symlink_to("/etc/hostname")


def large_file_dropped(settings, root: Path) -> None:
    converged(settings)
    settings.large_file_bytes = 1024
    drop_file(root / "assets" / "scripts" / "draft.fdx", os.urandom(4096), mtime=NOW - 600)


def no_repository(settings, root: Path) -> None:
    converged(settings)
    os.rename(root / ".git", root.parent / "old-git")


def settled_file(settings, root: Path) -> None:
    converged(settings)
    drop_file(root / "assets" / "audio" / "take.wav", b"RIFF" + bytes(64), mtime=NOW - 600)


def fresh_file(settings, root: Path) -> None:
    converged(settings)
    drop_file(root / "assets" / "audio" / "take.wav", b"RIFF" + bytes(64), mtime=NOW)  # still being written


STEP_CASES = [
    # step, before, result (or the Stalled reason / exception type), what else must hold
    ("Spec", spec_only, Result.UNCHANGED, lambda a: a.spec is not None and a.spec_file == "film.yaml" and a.duplicates == []),
    ("Spec", duplicate_specs, Result.UNCHANGED, lambda a: a.spec_file == "film.yaml" and a.duplicates == ["Film.yml"]),
    ("Spec", bad_spec, "InvalidSpec", None),
    ("Ownership", spec_only, Result.CHANGED, lambda a: Owners(a.settings.state).get("film") is not None),
    ("Ownership", adoptable_folder, Result.CHANGED, lambda a: a.owner is not None and a.owner.created_at == "2020-01-01T00:00:00Z"),
    ("Ownership", renamed_spec, Result.CHANGED, lambda a: a.root.is_dir() and not (a.root.parent / "film-old").exists()),
    ("Ownership", foreign_folder, "ForeignFolder", None),
    ("Ownership", file_in_the_way, "ForeignFolder", None),
    ("Layout", spec_only, Result.CHANGED, lambda a: (a.root / "outputs" / "renders" / ".gitkeep").is_file()),
    ("Layout", missing_keep, Result.CHANGED, lambda a: (a.root / "outputs" / "renders" / ".gitkeep").is_file()),
    ("Layout", layout_file_in_the_way, FileExistsError, None),
    ("Manifest", spec_only, Result.CHANGED, lambda a: b'"name": "film"' in (a.root / MANIFEST).read_bytes()),
    ("Manifest", edited_manifest, Result.CHANGED, lambda a: b'"id": "film"' in (a.root / MANIFEST).read_bytes()),
    ("Gitignore", symlinked_gitignore, Result.CHANGED, lambda a: not (a.root / ".gitignore").is_symlink()),
    ("Gitattributes", large_file_dropped, Result.CHANGED, lambda a: "draft.fdx filter=lfs" in (a.root / ".gitattributes").read_text()),
    ("Repository", spec_only, Result.CHANGED, lambda a: (a.root / ".git" / "HEAD").is_file()),
    ("Repository", no_repository, Result.CHANGED, lambda a: (a.root / ".git" / "HEAD").is_file()),
    ("Snapshot", spec_only, Result.CHANGED, lambda a: a.snapshot is not None and a.snapshot.commit is not None),
    ("Snapshot", settled_file, Result.CHANGED, lambda a: a.snapshot is not None and a.snapshot.pending == []),
    ("Snapshot", fresh_file, Result.REQUEUE, lambda a: a.snapshot is not None and a.snapshot.pending == ["assets/audio/take.wav"]),
]
# Every step converged, run again: nothing to do.
STEP_CASES += [(thing, lambda s, r: converged(s), Result.UNCHANGED, None) for thing, _ in steps.STEPS]


@pytest.mark.parametrize(("name", "before", "expected", "check"), STEP_CASES,
                         ids=[f"{c[0]}-{c[1].__name__}-{getattr(c[2], 'name', c[2])}" for c in STEP_CASES])  # fmt: skip
def test_step(settings, name, before, expected, check):
    root = settings.workspace / "film"
    settings.specs.mkdir(parents=True, exist_ok=True)
    settings.workspace.mkdir(parents=True, exist_ok=True)
    before(settings, root)
    attempt = attempt_for(settings)
    step = run_until(attempt, name)
    if isinstance(expected, Result):
        assert step(attempt) is expected
        if check is not None:
            assert check(attempt)
    elif isinstance(expected, str):
        with pytest.raises(Stalled) as stalled:
            step(attempt)
        assert stalled.value.reason == expected
    else:
        with pytest.raises(expected):
            step(attempt)


@pytest.mark.parametrize(("before", "failed", "reason", "permanent"), [
    (bad_spec, "Spec", "InvalidSpec", True),
    (foreign_folder, "Ownership", "ForeignFolder", True),
    (layout_file_in_the_way, "Layout", "StepError", False),
])  # fmt: skip
def test_converge_stops_at_the_first_error(settings, before, failed, reason, permanent):
    settings.specs.mkdir(parents=True, exist_ok=True)
    settings.workspace.mkdir(parents=True, exist_ok=True)
    before(settings, settings.workspace / "film")
    observation = converge(attempt_for(settings), None)
    assert observation.failure is not None
    assert (observation.failure.thing, observation.failure.reason, observation.failure.permanent) == (failed, reason, permanent)
    assert observation.passed == STEP_NAMES[: STEP_NAMES.index(failed)]
    assert observation.outcome.kind is (Next.STALLED if permanent else Next.RETRY)
    assert (observation.fingerprint is not None) is permanent  # a temporary failure is always tried again


def test_converge_stops_at_the_first_requeue(settings):
    settings.specs.mkdir(parents=True, exist_ok=True)
    settings.workspace.mkdir(parents=True, exist_ok=True)
    fresh_file(settings, settings.workspace / "film")
    observation = converge(attempt_for(settings), None)
    assert observation.failure is None and observation.passed == STEP_NAMES
    assert observation.outcome.kind is Next.REQUEUE and observation.outcome.after == pytest.approx(settings.settle_seconds)
    assert observation.fingerprint is None


# -- the reporting table: (observation, previous) -> phase, conditions, generation ---------------


def observed(settings, before, *, now: float = NOW) -> Observation:
    settings.specs.mkdir(parents=True, exist_ok=True)
    settings.workspace.mkdir(parents=True, exist_ok=True)
    before(settings, settings.workspace / "film")
    return converge(attempt_for(settings, now=now), None)


def conditions(status: ProjectStatus) -> dict[str, tuple[bool, str]]:
    return {c.type: (c.status, c.reason) for c in status.conditions}


def test_report_success_sets_ready_and_the_generation(settings):
    status = status_for(observed(settings, spec_only), None, NOW)
    assert status is not None and status.status is Phase.READY
    assert conditions(status) == {"Ready": (True, "Converged")}
    assert status.observed_generation == status.generation is not None and status.fingerprint is not None


@pytest.mark.parametrize(("before", "condition", "reason"), [
    (bad_spec, "SpecFailed", "InvalidSpec"),
    (foreign_folder, "OwnershipFailed", "ForeignFolder"),
    (layout_file_in_the_way, "LayoutFailed", "StepError"),
])  # fmt: skip
def test_report_a_failure_names_the_step_and_keeps_the_generation(settings, before, condition, reason):
    observation = observed(settings, before)
    previous = ProjectStatus(id="film", name="film", status=Phase.READY, observed_generation="older")
    status = status_for(observation, previous, NOW)
    assert status is not None and status.status is Phase.FAILED
    assert conditions(status) == {condition: (False, reason), "Ready": (False, condition)}
    assert status.observed_generation == "older", "observed_generation moves only on success"
    assert previous.conditions == [] and previous.status is Phase.READY, "the previous status is never modified"


def test_report_a_passing_step_clears_its_old_failure(settings):
    failed = status_for(observed(settings, layout_file_in_the_way), None, NOW)
    assert failed is not None and "LayoutFailed" in conditions(failed)
    (settings.workspace / "film" / "assets" / "audio").unlink()
    status = status_for(converge(attempt_for(settings, now=NOW + 1), failed), failed, NOW + 1)
    assert status is not None and conditions(status) == {"Ready": (True, "Converged")}
    assert failed.condition("LayoutFailed") is not None, "the failed status object is untouched"


def test_report_a_requeue_is_ready_with_pending_files_and_no_fingerprint(settings):
    status = status_for(observed(settings, fresh_file), None, NOW)
    assert status is not None and status.status is Phase.READY and status.pending_files == ["assets/audio/take.wav"]
    assert status.is_dirty and status.fingerprint is None


@pytest.mark.parametrize(("absence", "previous_phase", "expected"), [
    (Absence.WAITING, Phase.READY, Phase.DELETING),
    (Absence.WAITING, Phase.DELETING, "unchanged"),
    (Absence.UNMANAGED, None, Phase.UNMANAGED),
    (Absence.TRASHED, Phase.DELETING, None),
    (Absence.NOTHING, None, None),
])  # fmt: skip
def test_report_the_removal_path(settings, absence, previous_phase, expected):
    attempt = Attempt(
        key="film", settings=settings, now=NOW, specs=SpecIndex(settings.specs), owners=Owners(settings.state), trash=Trash(settings.state)
    )
    previous = None
    if previous_phase is not None:
        previous = ProjectStatus(id="film", name="film", folder="film", status=previous_phase,
                                 missing_since=NOW - 1 if previous_phase is Phase.DELETING else None)  # fmt: skip
    observation = Observation(attempt, absence=absence, folder="film", missing_since=NOW)
    status = status_for(observation, previous, NOW)
    if expected == "unchanged":
        assert status is previous
    elif expected is None:
        assert status is None, "the key is forgotten"
    else:
        assert status is not None and status.status is expected
        if expected is Phase.DELETING:
            assert status.missing_since == NOW and previous is not None and previous.missing_since is None
        if expected is Phase.UNMANAGED:
            assert conditions(status) == {"Ready": (False, "Unmanaged")}
