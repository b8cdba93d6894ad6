"""Who a commit and an event are by: the person the API names in its attribution record
(``auteur.attribution``), or the configured default identity; judged by the real git."""

from __future__ import annotations

import time

import pytest
from helpers import drop_file, git, write_spec

from auteur import attribution, mailbox
from auteur.attribution import Action, Attribution
from auteur.identity import Actor, Role
from auteur.specs import Quality, Spec
from controller.mailroom import handle_requests
from controller.reconciling import Reconciler

ADA = Actor(name="Ada Lovelace", role=Role.EDITOR, email="ada@studio.example")
BOB = Actor(name="Bob", role=Role.ADMIN)  # no email of his own: bob@<email_domain>
STUDIO = "Studio Bot <bot@studio.example>"


@pytest.fixture
def settings(settings):
    settings.git_author, settings.email_domain = STUDIO, "studio.example"  # not the default, to tell them apart
    return settings


@pytest.fixture
def rec(settings, clock):
    return Reconciler(settings, clock=clock)


def commits(root) -> list[str]:
    """Newest first: ``author|committer|subject``, as the real git reads them."""
    return git(root, "log", "--format=%an <%ae>|%cn <%ce>|%s").splitlines()


def events(rec, kind: str) -> list[tuple[str, str | None]]:
    """(project id, actor) of every journaled event of ``kind``, oldest first."""
    return [(e.project.get("id"), e.actor) for e in rec.journal.since("0-0")[1] if e.type == kind]


def ask(settings, spec: Spec, actor: Actor, action: Action = Action.CREATE) -> None:
    """What the API does for a person: the record first, then the spec."""
    attribution.write(settings.state, spec.id, Attribution(action=action, generation=spec.generation(), actor=actor, at=time.time()))
    write_spec(settings, f"{spec.name}.yaml", spec.to_yaml().decode())


def test_a_create_commits_as_its_asker_and_a_file_dropped_later_as_the_default_identity(rec, settings, clock, judge):
    ask(settings, Spec(name="film"), ADA)
    assert rec.reconcile("film").kind == "done"
    root = settings.workspace / "film"
    assert commits(root) == [f"Ada Lovelace <ada@studio.example>|{STUDIO}|Create project film"]
    assert rec.status_of("film").last_commit_author == "Ada Lovelace <ada@studio.example>"
    assert events(rec, "project.created") == [("film", "Ada Lovelace")]
    assert git(root, "config", "user.email").strip() == "bot@studio.example"

    drop_file(root / "assets" / "scripts" / "draft.txt", b"INT. STUDIO - NIGHT\n", mtime=clock.now - 60)
    assert rec.reconcile("film").kind == "done"
    assert commits(root)[0] == f"{STUDIO}|{STUDIO}|Snapshot of film"  # the record spoke for the spec, not for this
    assert rec.status_of("film").last_commit_author == STUDIO
    assert events(rec, "project.updated")[-1] == ("film", None)
    judge(root)


def test_an_edit_commits_as_its_asker_with_an_email_made_up_from_the_domain(rec, settings):
    ask(settings, Spec(name="film"), ADA)
    rec.reconcile("film")
    ask(settings, Spec(name="film", quality=Quality.PREMIUM), BOB, Action.UPDATE)
    assert rec.reconcile("film").kind == "done"
    assert commits(settings.workspace / "film")[0].startswith(f"Bob <bob@studio.example>|{STUDIO}|Snapshot of film")
    assert events(rec, "project.updated")[-1] == ("film", "Bob")


def test_a_spec_dropped_by_hand_commits_as_the_configured_default_identity(rec, settings, judge):
    write_spec(settings, "film.yaml", "name: film\n")
    assert rec.reconcile("film").kind == "done"
    assert commits(settings.workspace / "film") == [f"{STUDIO}|{STUDIO}|Create project film"]
    assert events(rec, "project.created") == [("film", None)]
    judge(settings.workspace / "film")


def test_a_spec_edited_by_hand_after_the_api_wrote_it_is_the_default_identitys(rec, settings):
    ask(settings, Spec(name="film"), ADA)
    write_spec(settings, "film.yaml", "name: film\ndescription: changed by hand before the controller looked\n")
    rec.reconcile("film")
    assert commits(settings.workspace / "film") == [f"{STUDIO}|{STUDIO}|Create project film"]
    ask(settings, Spec(name="other"), ADA, Action.DELETE)  # a delete's record never attributes a spec
    write_spec(settings, "other.yaml", Spec(name="other").to_yaml().decode())
    rec.reconcile("other")
    assert commits(settings.workspace / "other") == [f"{STUDIO}|{STUDIO}|Create project other"]


def test_a_delete_names_its_asker_in_the_trash_and_the_events_then_forgets_the_record(rec, settings, clock):
    ask(settings, Spec(name="film"), ADA)
    rec.reconcile("film")
    generation = rec.status_of("film").generation
    attribution.write(settings.state, "film", Attribution(action=Action.DELETE, generation=generation, actor=BOB, at=clock.now))
    (settings.specs / "film.yaml").unlink()
    assert rec.reconcile("film").kind == "requeue"  # the grace period
    assert events(rec, "project.updated")[-1] == ("film", "Bob")
    clock.advance(settings.grace_seconds + 0.1)
    assert rec.reconcile("film").kind == "done"
    [entry] = rec.trash.entries()
    assert entry.actor == "Bob"
    assert events(rec, "project.deleted") == [("film", "Bob")]
    assert attribution.read(settings.state, "film") is None


def test_a_spec_removed_by_hand_goes_to_the_trash_with_nobody_named(rec, settings, clock):
    ask(settings, Spec(name="film"), ADA)
    rec.reconcile("film")
    (settings.specs / "film.yaml").unlink()
    rec.reconcile("film")
    clock.advance(settings.grace_seconds + 0.1)
    rec.reconcile("film")
    [entry] = rec.trash.entries()
    assert entry.actor is None and events(rec, "project.deleted") == [("film", None)]
    assert attribution.read(settings.state, "film") is None  # the trash took the project's record along


def test_a_delete_record_for_another_spec_names_nobody(rec, settings, clock):
    write_spec(settings, "film.yaml", "name: film\n")
    rec.reconcile("film")
    attribution.write(settings.state, "film", Attribution(action=Action.DELETE, generation="not-this-one", actor=BOB, at=clock.now))
    (settings.specs / "film.yaml").unlink()
    rec.reconcile("film")
    clock.advance(settings.grace_seconds + 0.1)
    rec.reconcile("film")
    assert rec.trash.entries()[0].actor is None


def test_a_restore_asked_through_the_mailbox_is_done_on_its_askers_behalf(rec, settings, clock):
    write_spec(settings, "film.yaml", "name: film\n")
    rec.reconcile("film")
    (settings.specs / "film.yaml").unlink()
    rec.reconcile("film")
    clock.advance(settings.grace_seconds + 0.1)
    rec.reconcile("film")
    [entry] = rec.trash.entries()
    request = mailbox.submit(settings.state, "restore", entry.entry, ADA)
    assert handle_requests(rec) == 1
    assert mailbox.wait_result(settings.state, request.id, 5).ok
    assert events(rec, "project.created")[-1] == ("film", "Ada Lovelace")
