"""``auteur diff``: the plan of a reconcile, on real converged projects that drifted.

The projects are built by the real CLI (``auteur reconcile``), drifted by hand, and
planned by the real CLI (``auteur diff``, a subprocess). Every file under the specs and
the workspace (state included: status, journal, locks, each ``.git``) is recorded
before and after a plan, bytes, mode and mtime: a plan changes nothing. Then a real
reconcile commits exactly the files the plan listed, as the real ``git`` sees them.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import drop_file, git, write_spec

from controller import planning
from controller.converging import converge
from controller.reconciling import Reconciler

ROOT = Path(__file__).resolve().parents[2]
LARGE = 100_000  # AUTEUR_LARGE_FILE_BYTES: a non-media file over it gets its own LFS line
PROJECTS = ("Clean Cut", "Lost Folder", "Odd Attributes", "New Media", "Gone Spec")
GIT_ACTIONS = {"A": "add", "M": "modify", "D": "delete"}


def auteur(tmp: Path, *args: str, workspace: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, AUTEUR_SPECS=str(tmp / "specs"), AUTEUR_WORKSPACE=str(workspace or tmp / "workspace"), PYTHONPATH=str(ROOT),
               AUTEUR_GRACE_SECONDS="0.2", AUTEUR_LARGE_FILE_BYTES=str(LARGE), HOME=str(tmp), GIT_CONFIG_NOSYSTEM="1")  # fmt: skip
    return subprocess.run([sys.executable, "-m", "controller", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def build(tmp: Path) -> Path:
    """Five converged projects, then drift: four of them changed, and a foreign folder."""
    specs, workspace = tmp / "specs", tmp / "workspace"
    specs.mkdir()
    for name in PROJECTS:
        (specs / f"{name}.yaml").write_text(f"name: {name}\n")
    done = auteur(tmp, "reconcile")
    assert done.returncode == 0, done.stdout + done.stderr
    shutil.rmtree(workspace / "Lost Folder" / "assets" / "audio")
    with open(workspace / "Odd Attributes" / ".gitattributes", "a") as f:
        f.write("*.txt filter=lfs diff=lfs merge=lfs -text\n")
    settled = time.time() - 60
    media = workspace / "New Media"
    drop_file(media / "assets" / "audio" / "take1.wav", b"RIFF" + b"\0" * 4092, mtime=settled)
    drop_file(media / "outputs" / "renders" / "notes.txt", b"cut at 01:02\n", mtime=settled)
    drop_file(media / "outputs" / "edits" / "cut.edl", b"E" * (LARGE + 1), mtime=settled)
    (media / "assets" / "scripts" / ".gitkeep").unlink()
    (specs / "Gone Spec.yaml").unlink()
    drop_file(workspace / "Stray Folder" / "notes.md", b"not a project\n", mtime=settled)
    return tmp


@pytest.fixture(scope="module")
def drifted(tmp_path_factory):
    return build(tmp_path_factory.mktemp("drifted"))


def tree_state(*roots: Path) -> dict[str, tuple[int, int, int, bytes | None]]:
    """Every entry under ``roots``, with its mode, mtime, size and bytes (a link's target)."""
    found = {}
    for root in roots:
        for folder, dirs, files in os.walk(root):
            for name in [".", *dirs, *files]:
                path = os.path.normpath(os.path.join(folder, name))
                st = os.lstat(path)
                data = None
                if stat.S_ISREG(st.st_mode):
                    data = Path(path).read_bytes()
                elif stat.S_ISLNK(st.st_mode):
                    data = os.fsencode(os.readlink(path))
                found[path] = (st.st_mode, st.st_mtime_ns, st.st_size, data)
    return found


def diff_unchanged(tmp: Path, *args: str, workspace: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``auteur diff`` run for real, and proof that it changed nothing anywhere."""
    before = tree_state(tmp)
    result = auteur(tmp, "diff", *args, workspace=workspace)
    after = tree_state(tmp)
    changed = sorted(p for p in before.keys() | after.keys() if before.get(p) != after.get(p))
    assert changed == [], f"auteur diff changed {changed}"
    return result


def block(out: str, title: str) -> list[str]:
    """The lines of one project's block in the printout (its title line first)."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(title))
    end = next((i for i in range(start + 1, len(lines)) if not lines[i].startswith(" ")), len(lines))
    return lines[start:end]


def planned_commit(lines: list[str]) -> set[tuple[str, str]]:
    """(action, path) of every file the block says it commits."""
    return {(line.split()[0], line.split()[1]) for line in lines if line.startswith("      ") and line.split()[0] in GIT_ACTIONS.values()}


def committed(root: Path, before: str) -> set[tuple[str, str]]:
    """(action, path) of what the commits since ``before`` changed, as the real git says."""
    out = git(root, "diff", "--no-renames", "--name-status", before, "HEAD")
    return {(GIT_ACTIONS[line.split("\t")[0]], line.split("\t")[1]) for line in out.splitlines()}


def test_the_snapshot_of_the_tree_covers_git_and_the_controller_state(drifted):
    """The proof of 'nothing changed' looks where a careless plan would write."""
    paths = tree_state(drifted).keys()
    for wanted in ("workspace/Clean Cut/.git/index", "workspace/Clean Cut/.git/refs/heads/main",
                   "workspace/.auteur/status/clean-cut.json", "workspace/.auteur/locks/clean-cut.lock",
                   "workspace/.auteur/owners/clean-cut.json"):  # fmt: skip
        assert str(drifted / wanted) in paths
    assert any("/.git/objects/" in p for p in paths) and any("/.auteur/events/" in p for p in paths)


def test_diff_prints_each_drift_and_changes_nothing(drifted):
    result = diff_unchanged(drifted)
    out = result.stdout
    assert result.returncode == 2, out + result.stderr
    assert block(out, "clean-cut") == ["clean-cut (Clean Cut): up to date"]
    assert block(out, "lost-folder") == [
        "lost-folder (Lost Folder):",
        "  create the folder assets/audio/",
        "  create assets/audio/.gitkeep",
    ]  # the empty .gitkeep comes back as it was committed: nothing to commit
    odd = block(out, "odd-attributes")
    assert odd[1] == "  edit .gitattributes"
    assert "      -*.txt filter=lfs diff=lfs merge=lfs -text" in odd
    assert not any(line.startswith("  commit") for line in odd)
    media = block(out, "new-media")
    assert "  create assets/scripts/.gitkeep" in media
    assert "  edit .gitattributes" in media and "      +/outputs/edits/cut.edl filter=lfs diff=lfs merge=lfs -text" in media
    assert "  commit 4 file(s): Snapshot of New Media (repaired: layout, .gitattributes)" in media
    assert "      add     assets/audio/take1.wav  4,096 bytes  (LFS)" in media
    assert "      add     outputs/renders/notes.txt  13 bytes" in media
    assert f"      add     outputs/edits/cut.edl  {LARGE + 1:,} bytes  (LFS)" in media
    assert planned_commit(media) == {("add", "assets/audio/take1.wav"), ("add", "outputs/renders/notes.txt"),
                                     ("add", "outputs/edits/cut.edl"), ("modify", ".gitattributes")}  # fmt: skip
    gone = block(out, "gone-spec")
    assert len(gone) == 2 and gone[1].startswith("  move 'Gone Spec' to the trash in 0.2 s (the spec is gone; grace period 0.2 s)")
    assert block(out, "stray-folder") == ["stray-folder (Stray Folder): foreign folder 'Stray Folder': left alone"]
    assert out.splitlines()[-1] == "Plan: 4 project(s) to change, 1 up to date, 1 foreign folder(s) left alone, 0 error(s)"


@pytest.mark.parametrize(
    ("name", "code", "first_line"),
    [
        ("Clean Cut", 0, "clean-cut (Clean Cut): up to date"),
        ("Stray Folder", 0, "stray-folder (Stray Folder): foreign folder 'Stray Folder': left alone"),
        ("Lost Folder", 2, "lost-folder (Lost Folder):"),
        ("Gone Spec", 2, "gone-spec (Gone Spec):"),
        ("No Such Film", 0, "no-such-film: no spec and no folder: nothing to do"),
    ],
)
def test_diff_of_one_project_exits_0_when_nothing_is_to_do_and_2_for_changes(drifted, name, code, first_line):
    result = diff_unchanged(drifted, name)
    assert result.returncode == code, result.stdout + result.stderr
    assert result.stdout.splitlines()[0] == first_line


def test_a_bad_spec_is_an_error_exit_1(drifted):
    (drifted / "specs" / "broken.yaml").write_text("name: broken\nqualty: draft\n")
    try:
        alone, every = diff_unchanged(drifted, "broken"), diff_unchanged(drifted)
    finally:
        (drifted / "specs" / "broken.yaml").unlink()
    for result in (alone, every):
        assert result.returncode == 1, result.stdout + result.stderr
        assert "broken: error: SpecFailed: " in result.stdout and "qualty" in result.stdout
    assert every.stdout.splitlines()[-1].endswith(", 1 error(s)")


def test_an_unreadable_workspace_is_an_error_exit_1(tmp_path):
    (tmp_path / "specs").mkdir()
    (tmp_path / "not-a-folder").write_text("")
    result = diff_unchanged(tmp_path, workspace=tmp_path / "not-a-folder")
    assert result.returncode == 1 and "auteur diff: cannot read the workspace" in result.stderr, result.stdout + result.stderr


def test_a_new_spec_on_a_fresh_workspace_is_planned_without_creating_anything(tmp_path):
    (tmp_path / "specs").mkdir()
    (tmp_path / "workspace").mkdir()
    (tmp_path / "specs" / "Fresh.yaml").write_text("name: Fresh\n")
    result = diff_unchanged(tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    fresh = block(result.stdout, "fresh")
    assert fresh[1] == "  take the new folder 'Fresh' under management" and "  create the project folder" in fresh
    assert "  create the git repository (.git, set up for LFS)" in fresh and "  commit 11 file(s): Create project Fresh" in fresh
    assert os.listdir(tmp_path / "workspace") == []  # not even the controller's state folder
    assert auteur(tmp_path, "reconcile").returncode == 0
    made = git(tmp_path / "workspace" / "Fresh", "show", "--name-status", "--format=", "HEAD")
    assert {(GIT_ACTIONS[line.split("\t")[0]], line.split("\t")[1]) for line in made.splitlines()} == planned_commit(fresh)
    written = (tmp_path / "workspace" / "Fresh" / ".gitattributes").read_text().splitlines()
    assert fresh[fresh.index("  create .gitattributes") + 1] == f"      (new file, {len(written)} lines)"  # counted, not printed


def test_a_long_edit_is_cut_short_saying_how_much_was_left_out():
    from controller.changes import MAX_DIFF_LINES, file_diff

    before = "".join(f"old {i}\n" for i in range(100)).encode()
    after = "".join(f"new {i}\n" for i in range(100)).encode()
    lines = file_diff("notes.txt", before, after)
    assert lines[:2] == ("--- a/notes.txt", "+++ b/notes.txt") and len(lines) == MAX_DIFF_LINES + 1
    assert lines[-1] == f"... ({2 + 1 + 200 - MAX_DIFF_LINES} more lines)"  # 2 headers, 1 hunk, 100 out, 100 in


def test_the_reconcile_after_the_plan_does_what_it_said(tmp_path):
    build(tmp_path)
    workspace = tmp_path / "workspace"
    heads = {name: git(workspace / name, "rev-parse", "HEAD").strip() for name in PROJECTS if name != "Gone Spec"}
    plan = diff_unchanged(tmp_path).stdout
    done = auteur(tmp_path, "reconcile", "--wait", "--timeout", "60")
    assert done.returncode == 0, done.stdout + done.stderr
    for name, before in heads.items():
        key = name.lower().replace(" ", "-")
        assert committed(workspace / name, before) == planned_commit(block(plan, key)), name
        assert git(workspace / name, "status", "--porcelain") == ""
    assert (workspace / "Lost Folder" / "assets" / "audio" / ".gitkeep").is_file()
    assert not (workspace / "Gone Spec").exists() and (workspace / "Stray Folder" / "notes.md").is_file()
    assert "gone-spec" in auteur(tmp_path, "trash").stdout
    again = diff_unchanged(tmp_path)
    assert again.returncode == 0, again.stdout
    assert again.stdout.splitlines()[-1] == "Plan: 0 project(s) to change, 4 up to date, 1 foreign folder(s) left alone, 0 error(s)"


def _remove_hook(root: Path) -> None:
    (root / ".git" / "hooks" / "pre-push").unlink()


def _detach_head(root: Path) -> None:
    (root / ".git" / "HEAD").write_bytes(b"ref: refs/heads/master\n")


def _rename_user(root: Path) -> None:
    git(root, "config", "user.name", "Someone Else")


def _new_media(root: Path) -> None:
    drop_file(root / "assets" / "storyboards" / "board.png", b"\x89PNG" + b"\0" * 60, mtime=time.time() - 60)


def _settling_media(root: Path) -> None:
    drop_file(root / "assets" / "audio" / "live.wav", b"RIFF", mtime=time.time())


def _rename_spec(root: Path) -> None:
    specs = root.parent.parent / "specs"
    (specs / "film.yaml").unlink()
    (specs / "Film.yaml").write_text("name: Film\n")  # the same id: the folder follows the name


def _edit_manifest(root: Path) -> None:
    (root / "project.json").write_text('{"id": "film"}\n')


@pytest.mark.parametrize(
    "drift",
    [
        lambda root: shutil.rmtree(root),
        lambda root: shutil.rmtree(root / "outputs"),
        lambda root: (root / ".gitignore").unlink(),
        _edit_manifest,
        _rename_spec,
        _remove_hook,
        _detach_head,
        _rename_user,
        _new_media,
        _settling_media,
        lambda root: (root / "assets" / "scripts" / ".gitkeep").unlink(),
        lambda root: drop_file(root / "assets" / "scripts" / "draft.txt", b"INT. NIGHT\n", mtime=time.time() - 60),
    ],
    ids=["folder", "outputs", "gitignore", "manifest", "rename", "hook", "head", "config", "media", "settling", "gitkeep", "fresh-file"],
)
def test_a_dry_run_plans_exactly_the_changes_the_reconcile_makes(settings, drift):
    """In process: the plan's changes, in order, are the ones the real run then makes,
    and its commit is the one the real git finds."""
    rec = Reconciler(settings)
    write_spec(settings, "film.yaml", "name: film\n")
    rec.reconcile("film")
    root = settings.workspace / "film"
    drift(root)
    head = git(root, "rev-parse", "refs/heads/main").strip() if root.is_dir() else ""
    now = time.time()
    (planned,) = planning.plan(settings, ["film"], now=now)
    attempt = rec.attempt("film")
    attempt.now = now
    converge(attempt, rec.status_of("film"))
    root = settings.workspace / attempt.wanted.name
    assert [c.summary for c in planned.changes] == [c.summary for c in attempt.planned]
    assert planned.changes or planned.commit or planned.settling
    assert planned.settling == (attempt.snapshot.pending if attempt.snapshot else [])
    made = set()
    if git(root, "rev-parse", "refs/heads/main").strip() != head:
        out = git(root, "show", "--name-status", "--format=", "HEAD")
        made = {(GIT_ACTIONS[line.split("\t")[0]], line.split("\t")[1]) for line in out.splitlines()}
    assert {(f.action, f.path) for f in planned.commit} == made
    (after,) = planning.plan(settings, ["film"], now=now)
    assert after.changes == [] and after.commit == []
