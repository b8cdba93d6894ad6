"""inotify watches: what is watched, what is not, and running out of watches."""

from __future__ import annotations

import errno
import os

from helpers import wait_for as _wait

from auteur.names import project_id
from controller.watching import Watcher


def wait_for(predicate, timeout=10.0):
    try:
        return _wait(predicate, timeout)
    except AssertionError:
        return False


def collect(specs, workspace):
    keys: list[str] = []
    watcher = Watcher(specs, workspace, keys.append)
    return watcher, keys


def make_project(workspace, name):
    root = workspace / name
    for sub in ("assets/audio", "outputs/renders", ".git/objects"):
        (root / sub).mkdir(parents=True)
    return root


def test_events_map_to_keys_and_git_is_never_watched(tmp_path):
    specs, workspace = tmp_path / "specs", tmp_path / "workspace"
    specs.mkdir()
    workspace.mkdir()
    root = make_project(workspace, "My Film")
    watcher, keys = collect(specs, workspace)
    watcher.start()
    try:
        watcher.watch_project("my-film", root)
        watched = set(watcher._watched)
        assert all(b"/.git" not in path for path in watched)
        assert os.fsencode(root / "assets" / "audio") in watched
        (specs / "Other One.yaml").write_text("name: Other One\n")
        assert wait_for(lambda: project_id("Other One") in keys)
        (specs / ".hidden.tmp").write_text("x")
        keys.clear()
        (root / "assets" / "audio" / "take.wav").write_bytes(b"x")
        assert wait_for(lambda: "my-film" in keys)
        quiet = make_project(tmp_path / "elsewhere", "quiet")  # outside the watched root: no root events
        watcher.watch_project("quiet", quiet)
        (quiet / ".git" / "objects" / "x").write_bytes(b"x")
        (quiet / "project.json").write_text("{}")
        (quiet / "assets" / "audio" / "marker.wav").write_bytes(b"m")
        assert wait_for(lambda: "quiet" in keys)
        # inotify delivers in order: events of the earlier .git and root writes would come first
        assert keys.count("quiet") <= 2, "only the assets/ write is reported; .git and the root are left to the resync"
        (root / "assets" / "audio" / "new-folder").mkdir()
        assert wait_for(lambda: os.fsencode(root / "assets" / "audio" / "new-folder") in watcher._watched)
        keys.clear()
        (root / "assets" / "audio" / "new-folder" / "deep.wav").write_bytes(b"y")
        assert wait_for(lambda: "my-film" in keys)
    finally:
        watcher.stop()


def test_running_out_of_watches_falls_back_to_the_resync(tmp_path):
    specs, workspace = tmp_path / "specs", tmp_path / "workspace"
    specs.mkdir()
    workspace.mkdir()
    root = make_project(workspace, "full")
    watcher, _ = collect(specs, workspace)
    watcher.start()
    real_add = watcher._fd.add_callback

    def refuse_projects(path, *args):
        if b"/full/" in path:
            raise OSError(errno.ENOSPC, "inotify watch limit reached")
        return real_add(path, *args)

    watcher._fd.add_callback = refuse_projects
    try:
        watcher.watch_project("full", root)
        assert watcher.exhausted >= 1
        assert not any(b"/full/" in path for path in watcher._watched)
    finally:
        watcher.stop()
