"""auteur.paths: the one path-safety check, as a table over a real folder with symlinks."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from auteur.paths import MalformedPath, OutsidePath, path_parts, resolve_under


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A project folder with symlinks pointing in and out, and a secret next to it."""
    (tmp_path / "secret.txt").write_text("not yours")
    project = tmp_path / "film"
    (project / "assets" / "audio").mkdir(parents=True)
    (project / "assets" / "audio" / "theme.wav").write_bytes(b"RIFF")
    (project / "temp").mkdir()
    os.symlink(tmp_path / "secret.txt", project / "assets" / "audio" / "out.wav")  # absolute, out of the project
    os.symlink("../../../secret.txt", project / "assets" / "audio" / "up.wav")  # relative, out of the project
    os.symlink("theme.wav", project / "assets" / "audio" / "alias.wav")  # stays inside
    os.symlink("../temp", project / "assets" / "scratch")  # inside the project, outside assets/
    (tmp_path / "elsewhere").mkdir()
    os.symlink("../../elsewhere", project / "assets" / "dir-out")  # a folder symlink out
    os.symlink("..", project / "assets" / "parent")
    os.symlink(project / "temp", project / "outputs")  # a tracked folder that is itself a symlink
    return project


ACCEPTED = [
    # (relpath, within, real path relative to the project)
    ("assets/audio/theme.wav", "", "assets/audio/theme.wav"),
    ("assets/audio/theme.wav", "assets", "assets/audio/theme.wav"),
    ("assets/audio/alias.wav", "assets", "assets/audio/theme.wav"),
    ("assets/audio/not-yet.wav", "assets", "assets/audio/not-yet.wav"),  # may not exist yet
    ("assets/scratch/x.jpg", "", "temp/x.jpg"),  # a symlink that stays in the root is fine without `within`
    ("temp/posters/a.mp4.jpg", "temp/posters", "temp/posters/a.mp4.jpg"),
    ("assets/..x/file", "", "assets/..x/file"),  # '..' only as a whole segment is special
    ("assets/a\\b", "", "assets/a\\b"),  # a backslash is an ordinary character on POSIX
]


@pytest.mark.parametrize(("relpath", "within", "expected"), ACCEPTED)
def test_accepted_paths_resolve_inside(root, relpath, within, expected):
    assert resolve_under(root, relpath, within=within) == os.path.join(os.path.realpath(root), *expected.split("/"))


MALFORMED = [
    ("", "empty"),
    ("/etc/passwd", "absolute"),
    ("//etc/passwd", "absolute"),
    ("..", "'..'"),
    ("../secret.txt", "'..'"),
    ("assets/../../secret.txt", "'..'"),
    ("assets/./audio/theme.wav", "'.'"),
    ("assets//audio", "empty"),
    ("assets/audio/", "empty"),
    ("assets/a\0b", "NUL"),
]


@pytest.mark.parametrize(("relpath", "problem"), MALFORMED)
def test_malformed_paths_are_refused_before_any_lookup(root, relpath, problem):
    with pytest.raises(MalformedPath) as caught:
        resolve_under(root, relpath)
    assert problem in caught.value.problem
    with pytest.raises(MalformedPath):
        path_parts(relpath)


OUTSIDE = [
    ("assets/audio/out.wav", "", "outside"),
    ("assets/audio/up.wav", "", "outside"),
    ("assets/dir-out/anything", "", "outside"),
    ("assets/parent", "", "outside"),  # the root itself is not inside the root
    ("assets/scratch/x.jpg", "assets", "outside"),  # inside the project, but not inside assets/
    ("outputs/renders/a.mov", "outputs", "symlink"),  # the folder itself is a symlink
    ("temp/x", "assets", "not under"),
    ("assets", "assets", "not under"),
]


@pytest.mark.parametrize(("relpath", "within", "problem"), OUTSIDE)
def test_paths_leading_out_are_refused(root, relpath, within, problem):
    with pytest.raises(OutsidePath) as caught:
        resolve_under(root, relpath, within=within)
    assert problem in caught.value.problem
    assert isinstance(caught.value, ValueError) and relpath in str(caught.value)
