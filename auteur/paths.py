"""Path safety: a relative path from a request or a spec, resolved under its root or refused.

The one check every caller uses before it touches a file that a request or a job
names: ``api.assets`` (downloads), ``api.posters`` (poster frames) and
``worker.media`` (writing posters). A path is accepted only when it is a plain
project-relative path (``assets/x/y.mp4``: no leading ``/``, no empty, ``.`` or
``..`` segment, no NUL) and its real location, symlinks followed, stays under the
root (or under a given folder of it, itself reached without a symlink). ``asset_parts``
says whether a plain path names an asset at all (``api.versions``: versions and restores
of files that may no longer be in the working tree). DESIGN.md:
"No path from a request or a spec escapes its project folder".
"""

from __future__ import annotations

import os
from pathlib import Path

from auteur.layout import TRACKED_ROOTS


class UnsafePath(ValueError):
    """A relative path that may not be used; ``problem`` says why."""

    def __init__(self, relpath: str, problem: str) -> None:
        self.relpath = relpath
        self.problem = problem
        super().__init__(f"{relpath!r}: {problem}")


class MalformedPath(UnsafePath):
    """Not a plain relative path (absolute, ``..``, empty segments, NUL)."""


class OutsidePath(UnsafePath):
    """Well-formed, but its real location (through a symlink) is outside the root."""


class NotAnAsset(UnsafePath):
    """Well-formed, but not a file under ``assets/`` or ``outputs/`` (``project.json``, ``.git/...``)."""


def path_parts(relpath: str) -> list[str]:
    """The segments of a plain relative path (``"a/b"`` -> ``["a", "b"]``); raise
    :class:`MalformedPath` for anything else."""
    if not relpath:
        raise MalformedPath(relpath, "the path is empty")
    if "\0" in relpath:
        raise MalformedPath(relpath, "the path contains a NUL character")
    if relpath.startswith("/"):
        raise MalformedPath(relpath, "the path is absolute")
    parts = relpath.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise MalformedPath(relpath, "the path has an empty, '.' or '..' segment")
    return parts


def resolve_under(root: Path | str, relpath: str, *, within: str = "") -> str:
    """The real path of ``root/relpath``.

    Raises :class:`MalformedPath` unless ``relpath`` is plain (:func:`path_parts`),
    and :class:`OutsidePath` unless its real location is strictly inside
    ``root/within`` (``within`` defaults to the root itself) and ``root/within`` is
    reached without a symlink. The path itself need not exist yet (a file about to
    be written).
    """
    parts = path_parts(relpath)
    inner = path_parts(within) if within else []
    if parts[: len(inner)] != inner or len(parts) == len(inner):
        raise OutsidePath(relpath, f"the path is not under {within}/")
    real_root = os.path.realpath(root)
    expected = os.path.join(real_root, *inner)
    if inner and os.path.realpath(os.path.join(root, *inner)) != expected:
        raise OutsidePath(relpath, f"{within}/ leads elsewhere (a symlink)")
    real = os.path.realpath(os.path.join(root, *parts))
    if not real.startswith(expected + os.sep):
        raise OutsidePath(relpath, "the path leads outside its folder (a symlink)")
    return real


def asset_parts(relpath: str) -> list[str]:
    """The segments of a plain path under ``assets/`` or ``outputs/`` with no ``.git`` in it;
    raise :class:`MalformedPath` or :class:`NotAnAsset` for anything else."""
    parts = path_parts(relpath)
    if len(parts) < 2 or parts[0] not in TRACKED_ROOTS:
        raise NotAnAsset(relpath, "assets live under assets/ or outputs/")
    if any(part.lower() == ".git" for part in parts):
        raise NotAnAsset(relpath, "nothing under a .git folder is an asset")
    return parts
