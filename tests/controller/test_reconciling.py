"""reconcile(key) against real folders, judged by the real git and git-lfs."""

from __future__ import annotations

import json
import os
import shutil

import pytest
from helpers import commit_count, drop_file, git, write_spec

from auteur.names import project_id
from auteur.status import Phase
from controller.reconciling import Reconciler

LAYOUT = [
    "assets/scripts", "assets/storyboards", "assets/characters", "assets/locations",
    "assets/styles", "assets/audio", "outputs/renders", "outputs/edits",
]  # fmt: skip


@pytest.fixture
def rec(settings, clock):
    return Reconciler(settings, clock=clock)


def converge(rec, name):
    outcome = rec.reconcile(project_id(name))
    return outcome, rec.status_of(project_id(name))


@pytest.mark.parametrize(
    ("filename", "body"),
    [
        ("alpha.yaml", "name: alpha\nquality: premium\n"),
        ("alpha.yml", "name: alpha\nquality: premium\n"),
        ("alpha.json", '{"name": "alpha", "quality": "premium"}'),
        ("alpha.toml", 'name = "alpha"\nquality = "premium"\n'),
    ],
)
def test_every_format_converges_to_a_clean_repository(rec, settings, judge, filename, body):
    write_spec(settings, filename, body)
    outcome, status = converge(rec, "alpha")
    assert outcome.kind == "done"
    root = settings.workspace / "alpha"
    for folder in LAYOUT:
        assert (root / folder / ".gitkeep").is_file()
    assert (root / "temp").is_dir()
    manifest = json.loads((root / "project.json").read_text())
    assert manifest["id"] == "alpha" and manifest["name"] == "alpha" and manifest["quality"] == "premium"
    assert manifest["version"] == "1.0.0" and manifest["created_at"]
    assert "/temp/" in (root / ".gitignore").read_text().splitlines()
    attrs = (root / ".gitattributes").read_text()
    for ext in ("mp4", "MP4", "mov", "wav", "exr", "psd", "usdz", "blend"):
        assert f"*.{ext} filter=lfs diff=lfs merge=lfs -text" in attrs
    judge(root)
    assert git(root, "config", "filter.lfs.process").strip() == "git-lfs filter-process"
    assert status.status is Phase.READY
    assert status.observed_generation == status.generation
    assert status.current_commit == git(root, "rev-parse", "HEAD").strip()
    assert status.condition("Ready").status is True
    (root / "temp" / "scratch.txt").write_text("ignored")
    assert git(root, "status", "--porcelain") == ""


def test_second_reconcile_changes_nothing(rec, settings, clock):
    write_spec(settings, "beta.yaml", "name: beta\n")
    converge(rec, "beta")
    root = settings.workspace / "beta"
    head = git(root, "rev-parse", "HEAD")
    before = {p: p.stat().st_mtime_ns for p in root.rglob("*") if ".git" not in p.parts}
    clock.advance(100)
    outcome, _status = converge(rec, "beta")
    assert outcome.kind == "done"
    assert git(root, "rev-parse", "HEAD") == head and commit_count(root) == 1
    assert {p: p.stat().st_mtime_ns for p in root.rglob("*") if ".git" not in p.parts} == before


def test_created_at_is_stable_and_spec_changes_are_committed(rec, settings, clock):
    write_spec(settings, "gamma.yaml", "name: gamma\n")
    _, first = converge(rec, "gamma")
    clock.advance(3600)
    write_spec(settings, "gamma.yaml", "name: gamma\nquality: draft\ndescription: a short\n")
    _, second = converge(rec, "gamma")
    root = settings.workspace / "gamma"
    manifest = json.loads((root / "project.json").read_text())
    assert manifest["quality"] == "draft" and manifest["description"] == "a short"
    assert manifest["created_at"] == first.created_at == second.created_at
    assert second.generation != first.generation and second.observed_generation == second.generation
    assert commit_count(root) == 2
    assert git(root, "status", "--porcelain") == ""


@pytest.mark.parametrize(
    "damage",
    ["delete_folder", "edit_gitattributes", "edit_gitignore", "mangle_manifest", "delete_gitkeep", "delete_assets"],
)
def test_drift_is_healed_and_committed(rec, settings, judge, damage):
    write_spec(settings, "delta.yaml", "name: delta\n")
    _, status = converge(rec, "delta")
    root = settings.workspace / "delta"
    created_at = status.created_at
    if damage == "delete_folder":
        shutil.rmtree(root / "assets" / "audio")
    elif damage == "edit_gitattributes":
        (root / ".gitattributes").write_text("*.mp4 -text\n")
    elif damage == "edit_gitignore":
        (root / ".gitignore").write_text("")
    elif damage == "mangle_manifest":
        (root / "project.json").write_text("{not json")
    elif damage == "delete_gitkeep":
        (root / "outputs" / "edits" / ".gitkeep").unlink()
    elif damage == "delete_assets":
        shutil.rmtree(root / "assets")
    outcome, status = converge(rec, "delta")
    assert outcome.kind == "done"
    assert (root / "assets" / "audio" / ".gitkeep").is_file()
    assert (root / "outputs" / "edits" / ".gitkeep").is_file()
    assert "*.mp4 filter=lfs" in (root / ".gitattributes").read_text()
    assert "/temp/" in (root / ".gitignore").read_text()
    assert json.loads((root / "project.json").read_text())["created_at"] == created_at
    assert commit_count(root) == 1, "the working tree is back to what HEAD holds"
    judge(root)


def test_drift_committed_by_hand_is_repaired_in_a_new_commit(rec, settings, judge):
    write_spec(settings, "hand.yaml", "name: hand\n")
    converge(rec, "hand")
    root = settings.workspace / "hand"
    (root / ".gitattributes").write_text("*.mp4 -text\n")
    (root / "project.json").write_text("{}")
    git(root, "-c", "user.name=Someone", "-c", "user.email=s@example.com", "commit", "-qam", "oops")
    outcome, _status = converge(rec, "hand")
    assert outcome.kind == "done"
    assert commit_count(root) == 3
    subject = git(root, "log", "-1", "--format=%s")
    assert "repaired" in subject and "manifest" in subject and ".gitattributes" in subject
    assert git(root, "show", "HEAD:.gitattributes") == (root / ".gitattributes").read_text()
    judge(root)


@pytest.mark.parametrize(
    ("filename", "body", "field", "fragment"),
    [
        ("bad.yaml", "name: bad\nqualty: draft\n", "qualty", "unknown field"),
        ("bad.yaml", "name: bad\nquality: ultra\n", "quality", "ultra"),
        ("bad.yaml", "quality: draft\n", "name", "required"),
        ("bad.yaml", "name: other\n", "name", "does not match"),
        ("bad.yaml", "name: [\n", None, "cannot be parsed"),
        ("bad.json", '{"name": "bad",', None, "cannot be parsed"),
        ("bad.toml", 'name = "bad"\nextra = 1\n', "extra", "unknown field"),
        ("bad.yaml", "name: bad\ndescription: [1]\n", "description", "Expected `str`"),
    ],
)
def test_bad_spec_fails_with_file_field_and_problem_and_touches_nothing(rec, settings, filename, body, field, fragment):
    write_spec(settings, "bad.yaml", "name: bad\n")
    converge(rec, "bad")
    root = settings.workspace / "bad"
    snapshot = {p: p.stat().st_mtime_ns for p in root.rglob("*")}
    head = git(root, "rev-parse", "HEAD")
    (settings.specs / "bad.yaml").unlink()
    write_spec(settings, filename, body)
    write_spec(settings, "good.yaml", "name: good\n")
    outcome, status = converge(rec, "bad")
    assert outcome.kind == "stalled"
    assert status.status is Phase.FAILED
    assert filename in status.last_error and fragment in status.last_error
    if field:
        assert repr(field) in status.last_error
    cond = status.condition("SpecFailed")
    assert cond is not None and cond.status is False
    assert {p: p.stat().st_mtime_ns for p in root.rglob("*")} == snapshot
    assert git(root, "rev-parse", "HEAD") == head
    _, good = converge(rec, "good")
    assert good.status is Phase.READY


def test_invalid_name_in_stem_fails_without_creating_anything(rec, settings):
    write_spec(settings, "-bad.yaml", "name: -bad\n")
    outcome, status = converge(rec, "-bad")
    assert status.status is Phase.FAILED and "start with a letter or digit" in status.last_error
    assert outcome.kind == "stalled"
    assert list(settings.workspace.iterdir()) == [settings.state]


def test_duplicate_ids_oldest_wins_then_owner_keeps_winning(rec, settings, clock):
    write_spec(settings, "my-film.json", '{"name": "my-film"}', mtime=clock.now - 100)
    write_spec(settings, "My Film.yaml", "name: My Film\n", mtime=clock.now - 50)
    _, status = converge(rec, "my-film")
    assert status.status is Phase.READY and status.name == "my-film" and status.spec_file == "my-film.json"
    assert [d.file for d in status.duplicates] == ["My Film.yaml"]
    assert "my-film.json" in status.duplicates[0].message
    assert not (settings.workspace / "My Film").exists()
    # the loser becomes older, but the winner owns the folder now
    os.utime(settings.specs / "My Film.yaml", (clock.now - 1000, clock.now - 1000))
    _, status = converge(rec, "my-film")
    assert status.spec_file == "my-film.json"


def test_unicode_variants_are_duplicates(rec, settings, clock):
    import unicodedata

    nfd = unicodedata.normalize("NFD", "Amélie")
    write_spec(settings, "Amélie.yaml", "name: Amélie\n", mtime=clock.now - 10)
    write_spec(settings, f"{nfd}.yml", f"name: {nfd}\n", mtime=clock.now - 5)
    write_spec(settings, "amelie.toml", 'name = "amelie"\n', mtime=clock.now - 1)
    _, status = converge(rec, "amelie")
    assert status.status is Phase.READY and status.name == "Amélie"
    assert len(status.duplicates) == 2


@pytest.mark.parametrize("name", ["A" * 100, "映" * 66, "Ünïcödé Film 2", "x"])
def test_names_at_the_limits_converge(rec, settings, judge, name):
    write_spec(settings, f"{name}.yaml", f"name: '{name}'\n")
    _, status = converge(rec, name)
    assert status.status is Phase.READY, status.last_error
    judge(settings.workspace / name)


@pytest.mark.parametrize("name", ["A" * 101, "映" * 67])
def test_names_past_the_limits_fail(rec, settings, name):
    write_spec(settings, f"{name}.yaml", f"name: '{name}'\n")
    _, status = converge(rec, name)
    assert status.status is Phase.FAILED and "at most" in status.last_error
    assert not (settings.workspace / name).exists()


def test_media_is_committed_through_lfs(rec, settings, clock, judge):
    write_spec(settings, "media.yaml", "name: media\n")
    converge(rec, "media")
    root = settings.workspace / "media"
    wav = os.urandom(3 * 1024 * 1024)
    clip = os.urandom(1024 * 1024 + 7)
    drop_file(root / "assets/audio/take 1.wav", wav, mtime=clock.now - 10)
    drop_file(root / "outputs/renders/CLIP.MP4", clip, mtime=clock.now - 10)
    drop_file(root / "assets/scripts/draft.txt", b"INT. STUDIO - DAY\n", mtime=clock.now - 10)
    outcome, status = converge(rec, "media")
    assert outcome.kind == "done"
    judge(root)
    lfs = git(root, "lfs", "ls-files", "--name-only").splitlines()
    assert sorted(lfs) == ["assets/audio/take 1.wav", "outputs/renders/CLIP.MP4"]
    pointer = git(root, "show", "HEAD:outputs/renders/CLIP.MP4")
    assert pointer.startswith("version https://git-lfs.github.com/spec/v1\noid sha256:")
    assert f"size {len(clip)}" in pointer
    assert git(root, "show", "HEAD:assets/scripts/draft.txt") == "INT. STUDIO - DAY\n"
    assert (root / "assets/audio/take 1.wav").read_bytes() == wav
    assert (root / "outputs/renders/CLIP.MP4").read_bytes() == clip
    assert status.lfs_files == 2 and status.asset_count == 3 and not status.is_dirty


def test_large_file_of_any_type_gets_its_own_lfs_line(rec, settings, clock, judge):
    settings.large_file_bytes = 4096
    write_spec(settings, "big.yaml", "name: big\n")
    converge(rec, "big")
    root = settings.workspace / "big"
    drop_file(root / "outputs/edits/cut [final].edl", b"x" * 5000, mtime=clock.now - 10)
    drop_file(root / "outputs/edits/small.edl", b"x" * 10, mtime=clock.now - 10)
    converge(rec, "big")
    assert "/outputs/edits/cut[[:space:]]\\[final\\].edl filter=lfs" in (root / ".gitattributes").read_text()
    assert git(root, "lfs", "ls-files", "--name-only").splitlines() == ["outputs/edits/cut [final].edl"]
    judge(root)


def test_a_growing_file_waits_until_it_settles(rec, settings, clock, judge):
    write_spec(settings, "grow.yaml", "name: grow\n")
    converge(rec, "grow")
    root = settings.workspace / "grow"
    drop_file(root / "outputs/renders/shot.mov", b"partial", mtime=clock.now)
    outcome, status = converge(rec, "grow")
    assert outcome.kind == "requeue" and 0 < outcome.after <= settings.settle_seconds
    assert status.pending_files == ["outputs/renders/shot.mov"] and status.is_dirty
    assert "shot.mov" not in git(root, "ls-files")
    clock.advance(1)
    drop_file(root / "outputs/renders/shot.mov", b"partial and more", mtime=clock.now)
    assert converge(rec, "grow")[0].kind == "requeue"
    clock.advance(settings.settle_seconds + 0.1)
    outcome, status = converge(rec, "grow")
    assert outcome.kind == "done" and not status.is_dirty
    assert "outputs/renders/shot.mov" in git(root, "lfs", "ls-files", "--name-only")
    judge(root)


def test_changes_and_deletions_are_snapshotted(rec, settings, clock, judge):
    write_spec(settings, "snap.yaml", "name: snap\n")
    converge(rec, "snap")
    root = settings.workspace / "snap"
    drop_file(root / "assets/styles/look.png", b"v1" * 1000, mtime=clock.now - 10)
    drop_file(root / "assets/styles/nested/deeper/ref.jpg", b"jpg", mtime=clock.now - 10)
    converge(rec, "snap")
    first = git(root, "rev-parse", "HEAD:assets/styles/look.png").strip()
    drop_file(root / "assets/styles/look.png", b"v2" * 1000, mtime=clock.now - 5)
    (root / "assets/styles/nested/deeper/ref.jpg").unlink()
    converge(rec, "snap")
    assert git(root, "rev-parse", "HEAD:assets/styles/look.png") != first
    assert "ref.jpg" not in git(root, "ls-files")
    assert git(root, "show", f"{first}").startswith("version https://git-lfs"), "old bytes stay in history"
    judge(root)


def test_stray_files_in_the_root_are_reported_never_deleted(rec, settings):
    write_spec(settings, "stray.yaml", "name: stray\n")
    converge(rec, "stray")
    root = settings.workspace / "stray"
    (root / "notes.txt").write_text("mine")
    _, status = converge(rec, "stray")
    assert status.stray_files == ["notes.txt"]
    assert (root / "notes.txt").read_text() == "mine"


def test_symlinks_never_lead_outside(rec, settings, clock, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("secret")
    write_spec(settings, "link.yaml", "name: link\n")
    converge(rec, "link")
    root = settings.workspace / "link"
    (root / "assets/scripts/escape.txt").symlink_to(secret)
    (root / "assets/scripts/dir").symlink_to(tmp_path)
    os.utime(root / "assets/scripts", (clock.now - 10, clock.now - 10))
    _, status = converge(rec, "link")
    files = git(root, "ls-files")
    assert "escape" not in files and "assets/scripts/dir" not in files
    assert status.status is Phase.READY


def test_deletion_waits_for_grace_then_trashes(rec, settings, clock):
    write_spec(settings, "gone.yaml", "name: gone\nquality: draft\n")
    converge(rec, "gone")
    root = settings.workspace / "gone"
    (settings.specs / "gone.yaml").unlink()
    outcome, status = converge(rec, "gone")
    assert outcome.kind == "requeue" and status.status is Phase.DELETING
    assert root.is_dir()
    clock.advance(settings.grace_seconds + 0.1)
    outcome, status = converge(rec, "gone")
    assert outcome.kind == "done" and status is None
    assert not root.exists()
    [entry] = rec.trash.entries()
    assert entry.name == "gone" and entry.quality == "draft"
    assert (rec.trash.path(entry) / ".git").is_dir()
    rec.trash.purge(entry)
    assert rec.trash.entries() == [] and not rec.trash.path(entry).exists()


def test_a_spec_rewritten_within_the_grace_period_keeps_its_project(rec, settings, clock):
    write_spec(settings, "edit.yaml", "name: edit\n")
    converge(rec, "edit")
    (settings.specs / "edit.yaml").unlink()
    converge(rec, "edit")
    clock.advance(1)
    write_spec(settings, "edit.yaml", "name: edit\nquality: premium\n")
    clock.advance(5)
    outcome, status = converge(rec, "edit")
    assert outcome.kind == "done" and status.status is Phase.READY and status.quality == "premium"
    assert (settings.workspace / "edit" / ".git").is_dir() and rec.trash.entries() == []


def test_trash_expires_after_retention(rec, settings, clock):
    write_spec(settings, "old.yaml", "name: old\n")
    converge(rec, "old")
    (settings.specs / "old.yaml").unlink()
    converge(rec, "old")
    clock.advance(3)
    converge(rec, "old")
    assert len(rec.trash.entries()) == 1
    assert rec.trash.expire(settings.trash_retention_seconds, now=clock.now + 3600) == []
    assert len(rec.trash.expire(settings.trash_retention_seconds, now=clock.now + 8 * 24 * 3600)) == 1
    assert rec.trash.entries() == []


def test_foreign_folder_is_unmanaged_and_untouched(rec, settings):
    foreign = settings.workspace / "Someone Else"
    (foreign / "stuff").mkdir(parents=True)
    (foreign / "stuff" / "file.txt").write_text("theirs")
    assert "someone-else" in rec.keys()
    outcome, status = converge(rec, "Someone Else")
    assert status.status is Phase.UNMANAGED
    assert sorted(p.name for p in foreign.rglob("*")) == ["file.txt", "stuff"]
    write_spec(settings, "Someone Else.yaml", "name: Someone Else\n")
    outcome, status = converge(rec, "Someone Else")
    assert outcome.kind == "stalled" and status.status is Phase.FAILED
    assert "not managed by Auteur" in status.last_error
    assert sorted(p.name for p in foreign.rglob("*")) == ["file.txt", "stuff"]
    (settings.specs / "Someone Else.yaml").unlink()
    converge(rec, "Someone Else")
    assert foreign.is_dir(), "a foreign folder is never trashed"


def test_a_restored_backup_is_adopted(rec, settings, tmp_path, judge):
    write_spec(settings, "saved.yaml", "name: saved\n")
    _, first = converge(rec, "saved")
    backup = tmp_path / "backup"
    shutil.copytree(settings.workspace / "saved", backup, symlinks=True)
    # the workspace is lost, then the backup is put back by hand
    shutil.rmtree(settings.workspace)
    fresh = Reconciler(settings, clock=rec.clock)
    shutil.copytree(backup, settings.workspace / "saved", symlinks=True)
    _outcome, status = fresh.reconcile("saved"), fresh.status_of("saved")
    assert status.status is Phase.READY, status.last_error
    assert status.created_at == first.created_at
    assert commit_count(settings.workspace / "saved") == 1
    judge(settings.workspace / "saved")


def test_git_locks_left_by_a_killed_run_are_cleared_at_once(rec, settings, clock, judge):
    from controller.locking import project_lock

    write_spec(settings, "crash.yaml", "name: crash\n")
    converge(rec, "crash")
    root = settings.workspace / "crash"
    # a run killed while committing: it held the project lock and git's index.lock
    lock_path = settings.state / "locks" / "crash.lock"
    with project_lock(settings.state, "crash"):
        (root / ".git" / "index.lock").write_bytes(b"torn")
    lock_path.write_bytes(b"busy")  # what a kill -9 inside the lock leaves behind
    drop_file(root / "assets/scripts/after.txt", b"after the crash", mtime=clock.now - 10)
    outcome, status = converge(rec, "crash")
    assert outcome.kind == "done" and status.status is Phase.READY
    assert not (root / ".git" / "index.lock").exists()
    assert "assets/scripts/after.txt" in git(root, "ls-files")
    judge(root)


def test_a_fresh_lock_of_a_live_git_command_is_respected(rec, settings, clock):
    write_spec(settings, "busy.yaml", "name: busy\n")
    converge(rec, "busy")
    root = settings.workspace / "busy"
    (root / ".git" / "index.lock").write_bytes(b"a person's git add in progress")
    drop_file(root / "assets/scripts/new.txt", b"new", mtime=clock.now - 10)
    outcome, status = converge(rec, "busy")
    assert (root / ".git" / "index.lock").exists(), "never delete the lock of a live git command"
    assert outcome.kind == "retry" and status.status is Phase.FAILED
