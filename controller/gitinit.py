"""Creating and repairing a project's ``.git``: folders, HEAD, config and LFS hooks.

Called by ``controller.repository`` (re-exported as ``ensure_repository`` and
``plan_repository``, what it would do, for a dry run) for
``controller.steps.ensure_repository``. The config carries the LFS filter exactly as
``git lfs install --local`` writes it, so people using the real git-lfs get the
right behaviour, and the controller's identity (``AUTEUR_GIT_AUTHOR``) as ``user``, so
git commands run in the folder work where nobody configured git.
"""

from __future__ import annotations

import os
import secrets
import shutil
import stat
import time
from functools import cache, partial
from io import BytesIO
from pathlib import Path

from dulwich.config import ConfigFile
from dulwich.file import GitFile

from auteur.identity import DEFAULT_AUTHOR, parse_author
from controller import lfs
from controller.changes import Change

# A lock older than this was left by a killed process: no git command, ours or a
# person's, holds one for minutes in a project folder.
STALE_LOCK_SECONDS = 300.0
_HEAD = b"ref: refs/heads/main\n"
_GIT_FOLDERS = ("objects/info", "objects/pack", "refs/heads", "refs/tags")
DEFAULT_IDENTITY = parse_author(DEFAULT_AUTHOR)
_Config = tuple[tuple[tuple[bytes, ...], bytes, bytes], ...]


class RepositoryError(Exception):
    """``.git`` is something this module must not touch, or ``main`` moved under it."""


@cache
def _required_config(identity: bytes) -> _Config:
    """The entries ``.git/config`` must hold, ``user`` being ``identity`` (``Name <email>``)."""
    name, _, email = identity.rpartition(b" <")
    return (
        ((b"core",), b"repositoryformatversion", b"0"),
        ((b"core",), b"filemode", b"true"),
        ((b"core",), b"bare", b"false"),
        ((b"core",), b"logallrefupdates", b"true"),
        ((b"user",), b"name", name),
        ((b"user",), b"email", email.removesuffix(b">")),
        *lfs.CONFIG,
    )


@cache
def _config_text(identity: bytes) -> bytes:
    sections: dict[tuple[bytes, ...], bytes] = {}
    for section, name, value in _required_config(identity):
        head = b"[%s]\n" % section if len(section) == 1 else b'[%s "%s"]\n' % section
        sections[section] = sections.get(section, head) + b"\t%s = %s\n" % (name, _quoted(value))
    return b"".join(sections.values())


def _quoted(value: bytes) -> bytes:
    """A config value as git reads it back: quoted when it holds a comment character, a quote,
    a backslash or edge spaces (a configured identity may: ``Studio #2 <bot@studio>``)."""
    if not any(c in value for c in b'#;"\\') and value == value.strip():
        return value
    return b'"' + value.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


def ensure_repository(root: Path, identity: bytes = DEFAULT_IDENTITY) -> bool:
    """Ensure ``root/.git`` is a repository on ``main`` set up for LFS, with ``identity``
    (``Name <email>``) as its ``user``; True if changed.

    A missing ``.git`` is built under a temporary name and renamed into place, so a
    crash never leaves half a repository. An existing one is repaired in place
    (HEAD, object and ref folders, config entries, LFS hooks); history is kept.
    What it does is ``plan_repository``'s list, carried out.
    """
    changes = plan_repository(root, identity)
    clear_stale_locks(root / ".git")
    for change in changes:
        change.apply()
    return bool(changes)


def plan_repository(root: Path, identity: bytes = DEFAULT_IDENTITY) -> list[Change]:
    """What ``ensure_repository`` would do to ``root/.git``, read without writing anything."""
    git_dir = root / ".git"
    try:
        if not stat.S_ISDIR(os.lstat(git_dir).st_mode):
            raise RepositoryError(f"{git_dir} is not a directory")
    except FileNotFoundError:
        return [Change("create the git repository (.git, set up for LFS)", partial(_create_repository, root, identity))]
    changes = [Change(f"create .git/{folder}/", partial(os.makedirs, git_dir / folder, exist_ok=True))
               for folder in _GIT_FOLDERS if not os.path.isdir(git_dir / folder)]  # fmt: skip
    try:
        head = (git_dir / "HEAD").read_bytes()
    except FileNotFoundError:
        head = b""
    if head != _HEAD:
        changes.append(Change("point .git/HEAD at main", partial(_write_head, git_dir)))
    config, entries = _config_changes(git_dir, identity)
    if entries:
        changes.append(Change(f"set {', '.join(entries)} in .git/config", partial(config.write_to_path, git_dir / "config")))
    missing = lfs.missing_hooks(git_dir)
    if missing:
        changes.append(Change(f"add the LFS hooks {', '.join(missing)}", partial(lfs.install_hooks, git_dir)))
    return changes


def _write_head(git_dir: Path) -> None:
    with GitFile(git_dir / "HEAD", "wb") as f:
        f.write(_HEAD)


def _create_repository(root: Path, identity: bytes) -> bool:
    for stale in root.glob(".git.auteur-*"):  # left by a killed run (callers hold the project lock)
        shutil.rmtree(stale, ignore_errors=True)
    tmp = root / f".git.auteur-{secrets.token_hex(4)}"
    for folder in ("", "objects", "objects/info", "objects/pack", "refs", "refs/heads", "refs/tags"):
        os.mkdir(tmp / folder)
    for name, data in (("HEAD", _HEAD), ("config", _config_text(identity))):
        fd = os.open(tmp / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
    lfs.install_hooks(tmp)
    try:
        os.rename(tmp, root / ".git")
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        if not os.path.lexists(root / ".git"):
            raise
        ensure_repository(root, identity)  # another process won the race: use its repository
    return True


def _config_changes(git_dir: Path, identity: bytes) -> tuple[ConfigFile, list[str]]:
    """The config with the required entries set (config.lock, then rename, to write it), and
    the names of the entries that differed: none when ``.git/config`` is as it should be."""
    try:
        data = (git_dir / "config").read_bytes()
    except FileNotFoundError:
        data = b""
    if data == _config_text(identity):
        return ConfigFile(), []
    try:
        config = ConfigFile.from_file(BytesIO(data))
    except ValueError:  # unparseable: git cannot use it either
        config = ConfigFile()
    changed = []
    for section, name, value in _required_config(identity):
        try:
            current: bytes | None = config.get(section, name)
        except KeyError:
            current = None
        if current != value:
            config.set(section, name, value)
            changed.append(b".".join((*section, name)).decode("utf-8", "replace"))
    return config, changed


_LOCKS = ("index.lock", "HEAD.lock", "config.lock", "refs/heads/main.lock", "packed-refs.lock")


def clear_interrupted_locks(git_dir: Path) -> list[str]:
    """Remove git lock files regardless of age (the caller knows their writer is dead)."""
    removed = []
    for name in _LOCKS:
        try:
            os.unlink(git_dir / name)
            removed.append(name)
        except (FileNotFoundError, NotADirectoryError):
            pass
    return removed


def clear_stale_locks(git_dir: Path) -> None:
    """Remove git lock files too old to belong to a live git command (a person's, or ours)."""
    for name in _LOCKS:
        try:
            if time.time() - os.stat(git_dir / name).st_mtime > STALE_LOCK_SECONDS:
                os.unlink(git_dir / name)
        except FileNotFoundError:
            pass
