"""controller.repository and controller.lfs, judged by the real git and git-lfs."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from controller import gitinit, lfs, repository

FOLDERS = (
    "assets/scripts",
    "assets/storyboards",
    "assets/characters",
    "assets/locations",
    "assets/styles",
    "assets/audio",
    "outputs/renders",
    "outputs/edits",
)
MEDIA = ("mp4", "mov", "wav", "png")
ATTRIBUTES = "".join(f"*.{e} filter=lfs diff=lfs merge=lfs -text\n*.{e.upper()} filter=lfs diff=lfs merge=lfs -text\n" for e in MEDIA)
SETTLE = 2.0


def is_media(path: str, size: int) -> bool:
    return path.rsplit(".", 1)[-1].lower() in MEDIA


Git = Callable[..., str]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    project = tmp_path / "my-film"
    project.mkdir()
    (project / "project.json").write_text('{"id": "my-film", "name": "my-film", "version": "1.0.0"}\n')
    (project / ".gitignore").write_text("/temp/\n")
    (project / ".gitattributes").write_text(ATTRIBUTES)
    for folder in FOLDERS:
        (project / folder).mkdir(parents=True)
        (project / folder / ".gitkeep").touch()
    (project / "temp").mkdir()
    (project / "temp" / "scratch.bin").write_bytes(b"ignored")
    return project


@pytest.fixture
def git(root: Path, tmp_path: Path) -> Git:
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(HOME=str(home), GIT_CONFIG_NOSYSTEM="1")

    def run(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=root, env=env, capture_output=True)
        assert done.returncode == 0, f"git {' '.join(args)}: {done.stderr.decode()}"
        return done.stdout.decode()

    return run


AUTEUR = b"Auteur <auteur@localhost>"


def take(root: Path, now: float, message: str = "Snapshot", **kwargs: object) -> repository.SnapshotResult:
    kwargs = {"author": AUTEUR, "committer": AUTEUR, **kwargs}
    return repository.snapshot(root, is_lfs=is_media, now=now, settle_seconds=SETTLE, message=message, **kwargs)  # type: ignore[arg-type]


def later() -> float:
    """A clock far enough ahead that every file written so far has settled."""
    return time.time() + 60


def forbid_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make any read of a tracked file's content fail the test."""

    def boom(*args: object) -> bytes:
        raise AssertionError(f"a file was read: {args}")

    monkeypatch.setattr(repository, "_read_small", boom)
    monkeypatch.setattr(lfs, "store_fd", boom)


def index_stat(git: Git, path: str) -> dict[str, str]:
    """The stat data git sees in the index for ``path`` (``git ls-files --debug``)."""
    fields: dict[str, str] = {}
    for line in git("ls-files", "--debug", path).splitlines()[1:]:
        words = line.split()
        fields.update(zip((w.rstrip(":") for w in words[::2]), words[1::2], strict=True))
    return fields


def assert_clean(git: Git) -> None:
    git("fsck", "--strict")
    assert git("status", "--porcelain") == ""


def test_first_snapshot_is_a_clean_repository_and_the_second_changes_nothing(root: Path, git: Git, monkeypatch: pytest.MonkeyPatch) -> None:
    assert repository.ensure_repository(root) is True
    first = take(root, later(), "Create project my-film")
    assert first.changed and first.commit is not None
    assert (first.tracked_files, first.lfs_files, first.pending) == (11, 0, [])
    assert_clean(git)
    assert git("log", "--format=%an <%ae>|%s").splitlines() == ["Auteur <auteur@localhost>|Create project my-film"]
    assert git("rev-parse", "--abbrev-ref", "HEAD").strip() == "main"
    assert "temp/scratch.bin" not in git("ls-files")
    assert repository.head_info(root) == (first.commit, "Create project my-film", first.last_commit_at)

    index_mtime = (root / ".git" / "index").stat().st_mtime_ns
    assert repository.ensure_repository(root) is False
    forbid_reads(monkeypatch)
    second = take(root, later())
    assert (second.changed, second.commit, second.tracked_files) == (False, first.commit, 11)
    assert second.last_commit_message == "Create project my-film"
    assert (root / ".git" / "index").stat().st_mtime_ns == index_mtime  # nothing rewritten


def test_config_matches_what_git_lfs_install_writes(root: Path, git: Git) -> None:
    repository.ensure_repository(root)
    before = (root / ".git" / "config").read_bytes()
    hooks = {p.name: p.read_bytes() for p in (root / ".git" / "hooks").iterdir()}
    git("lfs", "install", "--local")
    assert (root / ".git" / "config").read_bytes() == before
    assert {p.name: p.read_bytes() for p in (root / ".git" / "hooks").iterdir()} == hooks
    assert git("config", "user.email").strip() == "auteur@localhost"


def test_a_commit_is_its_authors_and_committed_by_the_configured_identity(root: Path, git: Git) -> None:
    studio = b"Studio #2 <bot@studio.example>"  # '#' starts a comment in git's config unless quoted
    assert repository.ensure_repository(root, studio) is True
    assert (git("config", "user.name").strip(), git("config", "user.email").strip()) == ("Studio #2", "bot@studio.example")
    done = take(root, later(), author=b"Ada Lovelace <ada@studio.example>", committer=studio)
    assert done.last_commit_author == "Ada Lovelace <ada@studio.example>"
    assert git("log", "--format=%an <%ae>|%cn <%ce>").splitlines() == ["Ada Lovelace <ada@studio.example>|Studio #2 <bot@studio.example>"]
    assert git("log", "-g", "--format=%gn <%ge>").splitlines() == ["Studio #2 <bot@studio.example>"]  # the reflog's
    assert_clean(git)
    assert repository.ensure_repository(root, studio) is False
    assert repository.ensure_repository(root) is True  # the identity changed back: the config follows
    assert git("config", "user.name").strip() == "Auteur"


def test_media_goes_to_lfs_and_git_agrees(root: Path, git: Git, monkeypatch: pytest.MonkeyPatch) -> None:
    repository.ensure_repository(root)
    take(root, later())
    wav, clip = os.urandom(3 << 20), os.urandom((2 << 20) + 12345)
    (root / "assets/audio/take.wav").write_bytes(wav)
    (root / "outputs/renders/CLIP.MP4").write_bytes(clip)
    result = take(root, later())
    assert result.changed and result.lfs_files == 2 and result.tracked_files == 13
    listed = git("lfs", "ls-files", "--name-only").split()
    assert sorted(listed) == ["assets/audio/take.wav", "outputs/renders/CLIP.MP4"]
    git("lfs", "fsck")
    pointer = git("show", "HEAD:assets/audio/take.wav").encode()
    assert lfs.is_pointer(pointer)
    assert pointer == lfs.pointer_bytes(hashlib.sha256(wav).hexdigest(), len(wav))
    assert (root / "assets/audio/take.wav").read_bytes() == wav
    assert (root / "outputs/renders/CLIP.MP4").read_bytes() == clip
    assert index_stat(git, "assets/audio/take.wav")["size"] == str(len(wav))  # before git refreshes it
    assert_clean(git)

    # A touched file is re-hashed to the same pointer, and its new stat data recorded.
    stamp = time.time() - 30
    os.utime(root / "outputs/renders/CLIP.MP4", (stamp, stamp))
    again = take(root, later())
    assert (again.changed, again.commit) == (False, result.commit)
    touched = (root / "outputs/renders/CLIP.MP4").stat().st_mtime_ns
    assert index_stat(git, "outputs/renders/CLIP.MP4")["mtime"] == f"{touched // 10**9}:{touched % 10**9}"
    with monkeypatch.context() as patch:
        forbid_reads(patch)  # the refreshed stat data spares the next run a re-read
        assert take(root, later()).commit == result.commit

    # Every entry racy: git re-runs the LFS clean filter on the media; it must yield our pointers.
    os.utime(root / ".git" / "index", (stamp - 60, stamp - 60))
    assert git("status", "--porcelain") == ""


def test_pointer_bytes_match_git_lfs(root: Path, git: Git) -> None:
    data = os.urandom(5000)
    (root / "sample.bin").write_bytes(data)
    expected = git("lfs", "pointer", "--file=sample.bin").encode()
    assert lfs.pointer_bytes(hashlib.sha256(data).hexdigest(), len(data)) == expected
    assert lfs.is_pointer(expected)
    assert not lfs.is_pointer(b"version https://git-lfs.github.com/spec/v1\nsize 3\n")
    assert not lfs.is_pointer(data)


def test_unsettled_file_waits_until_the_clock_moves_on(root: Path, git: Git) -> None:
    repository.ensure_repository(root)
    now = time.time()
    first = take(root, now)
    fresh = root / "assets/scripts/draft.txt"
    fresh.write_text("half written")
    os.utime(fresh, (now - 0.5, now - 0.5))
    waiting = take(root, now)
    assert waiting.pending == ["assets/scripts/draft.txt"]
    assert waiting.retry_after == pytest.approx(SETTLE - 0.5)
    assert (waiting.changed, waiting.commit) == (False, first.commit)
    assert "draft.txt" not in git("ls-tree", "-r", "--name-only", "HEAD")

    settled = take(root, now + SETTLE)
    assert settled.changed and settled.pending == [] and settled.retry_after is None
    assert git("show", "HEAD:assets/scripts/draft.txt") == "half written"
    assert_clean(git)


def test_changed_pending_file_keeps_its_committed_version(root: Path, git: Git) -> None:
    repository.ensure_repository(root)
    script = root / "assets/scripts/scene.txt"
    script.write_text("v1")
    take(root, later())
    script.write_text("v2 still being written")
    result = take(root, time.time())
    assert result.pending == ["assets/scripts/scene.txt"] and not result.changed
    assert git("show", "HEAD:assets/scripts/scene.txt") == "v1"
    assert git("ls-files", "--stage", "assets/scripts/scene.txt").strip()  # still tracked


def test_modify_and_delete_are_committed(root: Path, git: Git) -> None:
    repository.ensure_repository(root)
    (root / "assets/scripts/a.txt").write_text("one")
    (root / "assets/scripts/b.txt").write_text("two")
    (root / "outputs/edits/cut.mov").write_bytes(os.urandom(4096))
    before = take(root, later())
    git("gc", "-q")  # packed refs and objects are read as well as loose ones
    (root / "assets/scripts/a.txt").write_text("one, revised")
    (root / "assets/scripts/b.txt").unlink()
    (root / "outputs/edits/cut.mov").unlink()
    after = take(root, later(), "Second")
    assert after.changed and after.commit != before.commit
    assert git("show", "HEAD:assets/scripts/a.txt") == "one, revised"
    names = git("ls-tree", "-r", "--name-only", "HEAD").split()
    assert "assets/scripts/b.txt" not in names and "outputs/edits/cut.mov" not in names
    assert git("rev-parse", "HEAD^").strip() == before.commit
    assert_clean(git)


def test_symlinks_are_neither_committed_nor_followed(root: Path, git: Git, tmp_path: Path) -> None:
    secret = tmp_path / "outside"
    secret.mkdir()
    (secret / "secret.txt").write_text("do not commit")
    (root / "assets/scripts/link.txt").symlink_to(secret / "secret.txt")
    (root / "assets/styles/linkdir").symlink_to(secret)
    repository.ensure_repository(root)
    result = take(root, later())
    names = git("ls-tree", "-r", "--name-only", "HEAD").split()
    assert result.tracked_files == 11
    assert not [n for n in names if "link" in n]
    git("fsck", "--strict")


def test_nested_git_folders_are_not_committed(root: Path, git: Git) -> None:
    for name in (".git", ".GIT"):
        (root / "assets/scripts" / name).mkdir()
        (root / "assets/scripts" / name / "config").write_text("[core]\n")
    repository.ensure_repository(root)
    assert take(root, later()).tracked_files == 11
    git("fsck", "--strict")


def test_symlinked_tracked_root_is_not_followed(root: Path, git: Git, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    (outside / "x").mkdir(parents=True)
    (outside / "x" / "leak.txt").write_text("leak")
    for folder in FOLDERS[-2:]:
        (root / folder / ".gitkeep").unlink()
        (root / folder).rmdir()
    (root / "outputs").rmdir()
    (root / "outputs").symlink_to(outside)
    repository.ensure_repository(root)
    result = take(root, later())
    assert result.tracked_files == 9
    assert "leak" not in git("ls-tree", "-r", "--name-only", "HEAD")


def test_odd_files_stay_clean_for_git(root: Path, git: Git) -> None:
    tool = root / "assets/scripts/render.sh"
    tool.write_text("#!/bin/sh\necho hi\n")
    tool.chmod(0o755)
    (root / "outputs/renders/empty.mp4").touch()  # git-lfs keeps empty files as they are
    (root / "outputs/renders/tiny.mp4").write_bytes(b"tiny")
    pointer = lfs.pointer_bytes("ab" * 32, 10)
    (root / "outputs/renders/pointer.mp4").write_bytes(pointer)  # and a pointer as it is
    camera = root / "outputs/renders/future.txt"
    camera.write_text("camera clock is wrong")
    os.utime(camera, (time.time() + 10 * 365 * 86400,) * 2)
    repository.ensure_repository(root)
    result = take(root, time.time() + 30)
    assert result.pending == []
    assert git("ls-files", "-s", "assets/scripts/render.sh").startswith("100755")
    assert git("show", "HEAD:outputs/renders/empty.mp4") == ""
    assert git("show", "HEAD:outputs/renders/tiny.mp4").encode() == lfs.pointer_bytes(hashlib.sha256(b"tiny").hexdigest(), 4)
    assert git("show", "HEAD:outputs/renders/pointer.mp4").encode() == pointer
    assert_clean(git)


def test_ensure_repository_repairs_config_head_and_hooks(root: Path, git: Git) -> None:
    repository.ensure_repository(root)
    take(root, later())
    git("config", "--local", "--remove-section", "filter.lfs")
    git("config", "--local", "core.filemode", "false")
    git("config", "--local", "alias.st", "status")
    (root / ".git" / "hooks" / "pre-push").unlink()
    assert repository.ensure_repository(root) is True
    assert git("config", "filter.lfs.process").strip() == "git-lfs filter-process"
    assert git("config", "filter.lfs.required").strip() == "true"
    assert git("config", "core.filemode").strip() == "true"
    assert git("config", "alias.st").strip() == "status"  # other settings kept
    assert (root / ".git" / "hooks" / "pre-push").exists()
    assert repository.ensure_repository(root) is False

    for head in (b"", b"ref: refs/heads/other\n"):
        (root / ".git" / "HEAD").write_bytes(head)
        assert repository.ensure_repository(root) is True
        assert git("symbolic-ref", "HEAD").strip() == "refs/heads/main"
    assert_clean(git)


def test_leftovers_of_a_killed_run_are_recovered(root: Path, git: Git) -> None:
    (root / ".git.auteur-0badc0de" / "objects").mkdir(parents=True)  # killed before the rename
    assert repository.ensure_repository(root) is True
    assert not list(root.glob(".git.auteur-*"))
    first = take(root, later())
    (root / ".git" / "index").write_bytes(b"DIRC torn")
    again = take(root, later())
    assert (again.changed, again.commit) == (False, first.commit)
    assert_clean(git)


def test_lost_history_restarts_from_a_root_commit(root: Path, git: Git) -> None:
    repository.ensure_repository(root)
    lost = take(root, later()).commit
    assert lost is not None
    (root / ".git" / "objects" / lost[:2] / lost[2:]).unlink()
    result = take(root, later(), "Recovered")
    assert result.changed and result.commit != lost
    assert git("log", "--format=%s").splitlines() == ["Recovered"]
    assert_clean(git)


def test_ensure_repository_refuses_a_git_file(root: Path) -> None:
    (root / ".git").write_text("gitdir: /somewhere/else\n")
    with pytest.raises(repository.RepositoryError):
        repository.ensure_repository(root)


def test_stale_lock_from_a_killed_run_is_cleared(root: Path, git: Git) -> None:
    repository.ensure_repository(root)
    lock = root / ".git" / "index.lock"
    lock.write_bytes(b"")
    old = time.time() - gitinit.STALE_LOCK_SECONDS - 10
    os.utime(lock, (old, old))
    assert take(root, later()).changed
    assert not lock.exists()
    assert_clean(git)


def test_known_oids_skip_reading(root: Path, git: Git, monkeypatch: pytest.MonkeyPatch) -> None:
    repository.ensure_repository(root)
    clip = root / "outputs/renders/shot.mov"
    clip.write_bytes(os.urandom(1 << 20))
    oid, size = lfs.store_file(root / ".git", clip)
    assert lfs.object_path(root / ".git", oid).stat().st_size == size

    def no_copy(*args: object) -> str:
        raise AssertionError("known oid was read again")

    monkeypatch.setattr(lfs, "_copy_and_hash", no_copy)
    assert lfs.store_file(root / ".git", clip, known_oid=oid) == (oid, size)
    result = take(root, later(), known_oids={"outputs/renders/shot.mov": oid})
    assert result.lfs_files == 1
    monkeypatch.undo()
    git("lfs", "fsck")
    assert_clean(git)


@pytest.mark.parametrize("mode", ["ab", "r+b"])
def test_store_file_reports_a_file_that_changes(root: Path, monkeypatch: pytest.MonkeyPatch, mode: str) -> None:
    growing = root / "outputs/renders/live.mp4"
    growing.write_bytes(os.urandom(6 << 20))
    real_readv = os.readv

    def readv_and_grow(fd: int, buffers: list[memoryview]) -> int:
        with open(growing, mode) as f:  # append, or overwrite in place at the same size
            f.write(b"more")
        os.utime(growing, ns=(0, time.time_ns() + 10**9))  # a write in the same clock tick
        return real_readv(fd, buffers)

    monkeypatch.setattr(os, "readv", readv_and_grow)
    with pytest.raises(lfs.FileChangedError):
        lfs.store_file(root / ".git", growing)
    monkeypatch.undo()
    assert list((root / ".git" / "lfs" / "tmp").iterdir()) == []
    assert not (root / ".git" / "lfs" / "objects").exists()


def test_store_file_memory_stays_flat(tmp_path: Path) -> None:
    big = tmp_path / "big.mov"
    block = os.urandom(1 << 20)
    digest = hashlib.sha256()
    with open(big, "wb") as f:
        for i in range(200):
            chunk = block[i:] + block[:i]
            f.write(chunk)
            digest.update(chunk)
    script = (
        "import resource, sys\nfrom pathlib import Path\nfrom controller import lfs\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "oid, size = lfs.store_file(Path(sys.argv[1]), Path(sys.argv[2]))\n"
        "after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "print(oid, size, after - before)\n"
    )
    repo_root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "git"), str(big)],
        cwd=repo_root, check=True, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    oid, size, growth_kib = done.stdout.split()
    assert (oid, int(size)) == (digest.hexdigest(), 200 << 20)
    assert int(growth_kib) < 24 * 1024, f"peak RSS grew by {growth_kib} KiB"
    stored = lfs.object_path(tmp_path / "git", oid)
    assert stored.stat().st_size == 200 << 20
