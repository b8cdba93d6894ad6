"""The ingest job against real folders, judged by the real git and git-lfs.

The API's side is played by ``stage``: staged bytes, fsynced, and a ``stored``
record, exactly what ``api.uploads`` leaves for the worker. The worker writes no
status and no journal: what it tells the controller is read from the mailbox
(``Told``), and the controller's side of it is ``controller.mailroom``.
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import pytest
from helpers import commit_count, git, write_spec

from auteur import mailbox
from auteur.events import Journal
from auteur.identity import Actor, Role
from auteur.status import StatusStore
from auteur.uploads import UploadRecord, UploadState, UploadStore, new_upload_id
from controller import lfs
from controller.mailroom import handle_requests
from controller.reconciling import Reconciler
from worker import jobs
from worker.ingesting import MAX_ATTEMPTS, Ingest


class Told:
    """What the worker announced to the controller, oldest first (the mailbox's order)."""

    def __init__(self, settings) -> None:
        self.settings = settings

    @property
    def events(self) -> list[mailbox.Request]:
        return [r for r in mailbox.pending(self.settings.state) if r.action == "announce"]

    def kinds(self) -> list[str]:
        return [r.event for r in self.events if r.event.startswith("upload.")]


@pytest.fixture
def settings(settings):
    settings.settle_seconds = 3600.0  # nothing settles during a test: only known oids commit
    write_spec(settings, "film.yaml", "name: film\n")
    assert Reconciler(settings).reconcile("film").kind == "done"
    return settings


@pytest.fixture
def root(settings) -> Path:
    return settings.workspace / "film"


@pytest.fixture
def bus(settings) -> Told:
    return Told(settings)


def stage(settings, filename: str, data: bytes, asset_type: str = "audio", project: str = "film",
          actor: Actor | None = None, lfs_copy: bytes | None = None) -> UploadRecord:  # fmt: skip
    """``lfs_copy``: the bytes of the LFS copy the API writes beside a media file (``api.staging``)."""
    store = UploadStore(settings.state)
    upload_id = new_upload_id()
    path = store.create_staging(upload_id)
    for target, content in ((path, data), (store.staged_lfs_copy(upload_id), lfs_copy)):
        if content is not None:
            with open(target, "wb") as handle:
                handle.write(content)
                handle.flush()
                os.fsync(handle.fileno())
    st = os.stat(path)
    folder = "outputs" if asset_type in ("renders", "edits") else "assets"
    record = UploadRecord(
        upload_id=upload_id, project_id=project, asset_type=asset_type, filename=filename,
        path=f"{folder}/{asset_type}/{filename}", size=len(data), oid=hashlib.sha256(data).hexdigest(),
        job_id=f"ingest-{upload_id}", staged_ino=st.st_ino, staged_mtime_ns=st.st_mtime_ns, actor=actor,
    )  # fmt: skip
    store.write(record)
    return record


def committed_oid(root: Path, path: str) -> str:
    pointer = git(root, "show", f"HEAD:{path}")
    return pointer.split("oid sha256:")[1].split()[0]


def test_ingest_moves_and_commits_at_once_without_hashing_again(settings, root, bus, judge, monkeypatch):
    data = os.urandom(5 << 20)
    record = stage(settings, "take 1.wav", data)

    def no_hashing(*args: object) -> str:
        raise AssertionError("the upload was hashed again")

    monkeypatch.setattr(lfs, "_copy_and_hash", no_hashing)
    result = Ingest(settings).run(record.upload_id)
    monkeypatch.undo()
    assert result["status"] == "completed", result
    assert (root / "assets/audio/take 1.wav").read_bytes() == data
    assert committed_oid(root, "assets/audio/take 1.wav") == record.oid
    assert result["commit"] == git(root, "rev-parse", "HEAD").strip()
    judge(root)
    assert not UploadStore(settings.state).staging_dir(record.upload_id).exists()
    assert bus.kinds() == ["upload.processing", "upload.completed"]
    done = UploadStore(settings.state).read(record.upload_id)
    assert done.status is UploadState.COMPLETED and done.attempts == 1


def no_copying(monkeypatch) -> None:
    def refuse(*args: object) -> str:
        raise AssertionError("the file was copied into the LFS store")

    monkeypatch.setattr(lfs, "_copy_known", refuse)
    monkeypatch.setattr(lfs, "_copy_and_hash", refuse)


def test_the_lfs_copy_written_on_arrival_becomes_the_object_and_nothing_is_copied(settings, root, bus, judge, monkeypatch):
    data = os.urandom(3 << 20)
    record = stage(settings, "take 2.wav", data, lfs_copy=data)
    copy_inode = os.stat(UploadStore(settings.state).staged_lfs_copy(record.upload_id)).st_ino
    no_copying(monkeypatch)
    result = Ingest(settings).run(record.upload_id)
    monkeypatch.undo()
    assert result["status"] == "completed", result
    stored = lfs.object_path(root / ".git", record.oid)
    assert os.stat(stored).st_ino == copy_inode and stored.read_bytes() == data
    assert os.stat(stored).st_mode & 0o777 == 0o644
    assert committed_oid(root, record.path) == record.oid
    judge(root)  # git fsck and git lfs fsck: the object is the one git-lfs expects
    assert not UploadStore(settings.state).staging_dir(record.upload_id).exists()


def test_a_short_lfs_copy_is_dropped_and_the_file_copied_as_always(settings, root, bus, judge):
    data = os.urandom(1 << 20)
    record = stage(settings, "cut.mov", data, asset_type="renders", lfs_copy=data[:-1])
    assert Ingest(settings).run(record.upload_id)["status"] == "completed"
    assert lfs.object_path(root / ".git", record.oid).read_bytes() == data
    judge(root)


def test_an_lfs_copy_of_a_file_git_keeps_is_dropped(settings, root, bus, judge):
    data = b"a short note\n"
    record = stage(settings, "notes.txt", data, asset_type="scripts", lfs_copy=data)
    assert Ingest(settings).run(record.upload_id)["status"] == "completed"
    assert git(root, "show", f"HEAD:{record.path}").encode() == data  # a plain blob, no pointer
    objects = root / ".git" / "lfs" / "objects"
    assert not objects.exists() or not [p for p in objects.rglob("*") if p.is_file()]
    assert not UploadStore(settings.state).staging_dir(record.upload_id).exists()
    judge(root)


def test_a_crash_after_the_lfs_copy_was_placed_is_finished(settings, root, bus, judge, monkeypatch):
    data = os.urandom(2 << 20)
    record = stage(settings, "room tone.wav", data, lfs_copy=data)
    store = UploadStore(settings.state)
    stored = lfs.object_path(root / ".git", record.oid)
    stored.parent.mkdir(parents=True)
    os.replace(store.staged_lfs_copy(record.upload_id), stored)  # the run died right after placing it
    record.status, record.attempts = UploadState.PROCESSING, 1
    store.write(record)
    no_copying(monkeypatch)
    result = Ingest(settings).run(record.upload_id)
    monkeypatch.undo()
    assert result["status"] == "completed", result
    assert committed_oid(root, record.path) == record.oid and stored.read_bytes() == data
    judge(root)


def test_ingest_twice_changes_nothing_the_second_time(settings, root, bus, judge):
    record = stage(settings, "cue.wav", os.urandom(100_000))
    first = Ingest(settings).run(record.upload_id)
    commits, stored = commit_count(root), UploadStore(settings.state).read(record.upload_id)
    second = Ingest(settings).run(record.upload_id)
    assert first == second and first["status"] == "completed"
    assert commit_count(root) == commits
    assert UploadStore(settings.state).read(record.upload_id) == stored
    judge(root)


def test_two_runs_at_once_commit_once(settings, root, bus, judge):
    record = stage(settings, "cue.wav", os.urandom(2 << 20))
    commits = commit_count(root)
    results: list[dict] = []
    runs = [threading.Thread(target=lambda: results.append(Ingest(settings).run(record.upload_id))) for _ in range(2)]
    for run in runs:
        run.start()
    for run in runs:
        run.join(60)
    assert [r["status"] for r in results] == ["completed", "completed"]
    assert commit_count(root) == commits + 1
    assert bus.kinds() == ["upload.processing", "upload.completed"]
    judge(root)


def test_a_crash_after_the_move_is_finished(settings, root, bus, judge):
    data = os.urandom(300_000)
    record = stage(settings, "shot.mov", data, asset_type="renders")
    store = UploadStore(settings.state)
    os.replace(store.staged_file(record.upload_id), root / record.path)  # the run died right here
    record.status, record.attempts = UploadState.PROCESSING, 1
    store.write(record)
    result = Ingest(settings).run(record.upload_id)
    assert result["status"] == "completed", result
    assert committed_oid(root, record.path) == record.oid
    assert (root / record.path).read_bytes() == data
    judge(root)


def test_a_crash_after_the_commit_is_finished_without_a_new_commit(settings, root, bus, judge):
    record = stage(settings, "shot.mov", os.urandom(300_000), asset_type="renders")
    Ingest(settings).run(record.upload_id)
    store = UploadStore(settings.state)
    committed = store.read(record.upload_id)
    committed.status, committed.commit = UploadState.PROCESSING, None  # the record never got "completed"
    store.write(committed)
    commits = commit_count(root)
    result = Ingest(settings).run(record.upload_id)
    assert result["status"] == "completed" and result["commit"] == git(root, "rev-parse", "HEAD").strip()
    assert commit_count(root) == commits
    judge(root)


def test_a_file_replaced_by_someone_else_before_the_commit_fails_clearly(settings, root, bus):
    record = stage(settings, "shot.mov", os.urandom(1000), asset_type="renders")
    store = UploadStore(settings.state)
    store.staged_file(record.upload_id).unlink()
    (root / record.path).write_bytes(b"someone else's bytes")
    result = Ingest(settings).run(record.upload_id)
    assert result["status"] == "failed" and "not the upload" in result["error"]
    assert bus.kinds() == ["upload.processing", "upload.failed"]


def test_a_project_that_is_gone_fails_and_frees_the_staged_bytes(settings, bus):
    record = stage(settings, "a.wav", b"abc", project="deleted-film")
    result = Ingest(settings).run(record.upload_id)
    assert result["status"] == "failed" and "no longer exists" in result["error"]
    assert not UploadStore(settings.state).staging_dir(record.upload_id).exists()


def test_a_damaged_staged_file_fails(settings, bus):
    record = stage(settings, "a.wav", b"abc")
    UploadStore(settings.state).staged_file(record.upload_id).write_bytes(b"ab")
    result = Ingest(settings).run(record.upload_id)
    assert result["status"] == "failed" and "damaged" in result["error"]


def test_temporary_errors_are_retried_then_recorded_as_failed(settings, root, bus):
    record = stage(settings, "a.wav", b"abc")
    os.rename(root / "assets/audio", root / "assets/audio-aside")
    (root / "assets/audio").write_bytes(b"a file in the way of the folder")
    for attempt in range(1, MAX_ATTEMPTS):
        with pytest.raises(OSError):
            Ingest(settings).run(record.upload_id)
        stored = UploadStore(settings.state).read(record.upload_id)
        assert stored.status is UploadState.PROCESSING and stored.attempts == attempt and stored.error
    result = Ingest(settings).run(record.upload_id)
    assert result["status"] == "failed" and "FileExistsError" in result["error"]
    assert bus.kinds() == ["upload.processing"] * MAX_ATTEMPTS + ["upload.failed"]


def test_recovery_ingests_what_was_stored_and_removes_orphans(settings, root, bus):
    record = stage(settings, "left.wav", b"left behind by a crash")
    store = UploadStore(settings.state)
    orphan = new_upload_id()
    store.create_staging(orphan).write_bytes(b"half an upload")
    old = os.stat(store.staging_dir(orphan)).st_mtime - 3600
    os.utime(store.staged_file(orphan), (old, old))
    os.utime(store.staging_dir(orphan), (old, old))
    fresh = new_upload_id()
    store.create_staging(fresh).write_bytes(b"still arriving")
    jobs.configure(settings)
    try:
        summary = jobs.recover_uploads()
    finally:
        jobs.reset()
    assert summary == {"ingested": 1, "orphans": 1, "forgotten": 0}
    assert store.read(record.upload_id).status is UploadState.COMPLETED
    assert not store.staging_dir(orphan).exists() and store.staging_dir(fresh).exists()
    assert (root / "assets/audio/left.wav").read_bytes() == b"left behind by a crash"


def test_a_large_file_of_any_type_goes_through_lfs_in_the_same_commit(settings, root, bus, judge):
    settings.large_file_bytes = 64 * 1024
    data = os.urandom(100_000)
    record = stage(settings, "scene 12.fdx", data, asset_type="scripts")
    commits = commit_count(root)
    assert Ingest(settings).run(record.upload_id)["status"] == "completed"
    assert commit_count(root) == commits + 1
    assert committed_oid(root, "assets/scripts/scene 12.fdx") == record.oid
    assert "/assets/scripts/scene[[:space:]]12.fdx filter=lfs" in git(root, "show", "HEAD:.gitattributes")
    judge(root)


def test_a_small_text_file_is_a_plain_blob(settings, root, bus, judge):
    record = stage(settings, "notes.txt", b"call sheet\n", asset_type="scripts")
    assert Ingest(settings).run(record.upload_id)["status"] == "completed"
    assert git(root, "show", "HEAD:assets/scripts/notes.txt") == "call sheet\n"
    judge(root)


class View:
    """Records what the ingest tells the shared view of uploads."""

    def __init__(self) -> None:
        self.states: list[tuple[str, str, dict]] = []

    def update(self, project_id: str, upload_id: str, state: dict) -> None:
        self.states.append((project_id, upload_id, state))


def test_the_worker_says_which_project_it_processes_and_keeps_the_view_current(settings, root, bus, caplog):
    record, view = stage(settings, "take 2.wav", os.urandom(50_000)), View()
    with caplog.at_level("INFO", logger="auteur.worker.ingest"):
        assert Ingest(settings, view=view).run(record.upload_id)["status"] == "completed"
    assert "Processing upload for project film" in [r.getMessage() for r in caplog.records]
    assert [(p, u, s["status"]) for p, u, s in view.states] == [("film", record.upload_id, state) for state in ("processing", "completed")]
    assert view.states[-1][2]["commit"] == git(root, "rev-parse", "HEAD").strip()
    processing = [e for e in bus.events if e.event == "upload.processing"]
    assert processing[0].data["status"] == "processing" and processing[0].project_id == "film"
    assert [e.reconcile for e in bus.events] == [False, True]  # the controller looks again once it is in


def test_the_controller_reports_the_ingest_and_journals_its_events(settings, root, bus):
    """Only the controller writes status and the journal: the ingest leaves both as they
    were, and the controller, reading its mailbox, reports the new commit before it
    journals ``upload.completed``."""
    statuses, journal = StatusStore(settings.state), Journal(settings.state)
    before_status, last_event = statuses.path("film").read_bytes(), journal.last_id()
    record = stage(settings, "take 3.wav", os.urandom(30_000))
    assert Ingest(settings).run(record.upload_id)["status"] == "completed"
    assert statuses.path("film").read_bytes() == before_status and journal.last_id() == last_event
    journal.close()

    controller = Reconciler(settings)
    assert handle_requests(controller) == 2 and bus.events == []
    head = git(root, "rev-parse", "HEAD").strip()
    assert controller.status_of("film").current_commit == head
    events = controller.journal.since(last_event)[1]
    assert [e.type for e in events] == ["upload.processing", "project.updated", "upload.completed"]
    assert events[1].project["current_commit"] == head and events[2].data["commit"] == head


def test_an_upload_commits_as_its_uploader_and_its_events_name_them(settings, root, bus, judge):
    settings.git_author, settings.email_domain = "Studio Bot <bot@studio.example>", "studio.example"
    record = stage(settings, "take 4.wav", os.urandom(30_000), actor=Actor(name="Grace Hopper", role=Role.EDITOR))
    assert Ingest(settings).run(record.upload_id)["status"] == "completed"
    assert git(root, "log", "-1", "--format=%an <%ae>|%cn <%ce>").strip() == (
        "Grace Hopper <grace-hopper@studio.example>|Studio Bot <bot@studio.example>"
    )
    assert {r.actor.name for r in bus.events} == {"Grace Hopper"}
    controller = Reconciler(settings)
    last_event = controller.journal.last_id()
    handle_requests(controller)
    assert [(e.type, e.actor) for e in controller.journal.since(last_event)[1]] == [
        ("upload.processing", "Grace Hopper"),
        ("project.updated", "Grace Hopper"),
        ("upload.completed", "Grace Hopper"),
    ]
    assert controller.status_of("film").last_commit_author == "Grace Hopper <grace-hopper@studio.example>"
    judge(root)


def test_an_upload_by_nobody_known_commits_as_the_configured_default_identity(settings, root, bus):
    settings.git_author = "Studio Bot <bot@studio.example>"
    record = stage(settings, "take 5.wav", os.urandom(30_000))
    assert Ingest(settings).run(record.upload_id)["status"] == "completed"
    assert git(root, "log", "-1", "--format=%an <%ae>").strip() == "Studio Bot <bot@studio.example>"
    assert [r.actor for r in bus.events] == [None, None]


def test_a_run_killed_every_time_ends_failed_with_the_reason(settings, root, bus):
    record = stage(settings, "a.wav", b"abc")
    store = UploadStore(settings.state)
    record.status, record.attempts = UploadState.PROCESSING, MAX_ATTEMPTS  # four runs died half-way
    store.write(record)
    result = Ingest(settings).run(record.upload_id)
    assert result["status"] == "failed" and "interrupted 4 times" in result["error"]
    assert bus.kinds() == ["upload.failed"]
    assert not (root / record.path).exists() and not store.staging_dir(record.upload_id).exists()


def test_a_last_run_killed_after_its_commit_is_completed_not_failed(settings, root, bus, judge):
    record = stage(settings, "a.wav", os.urandom(20_000))
    Ingest(settings).run(record.upload_id)
    store = UploadStore(settings.state)
    killed = store.read(record.upload_id)
    killed.status, killed.attempts = UploadState.PROCESSING, MAX_ATTEMPTS
    store.write(killed)
    assert Ingest(settings).run(record.upload_id)["status"] == "completed"
    judge(root)
