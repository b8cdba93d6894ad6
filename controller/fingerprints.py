"""Cheap fingerprints of a project: file stats, never contents.

Called by ``controller.reconciling`` (recorded after each converge) and by the
resync in ``controller.resyncing``, which fully reconciles only the projects whose
fingerprint differs from the recorded one.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path

_ROOT_FILES = ("project.json", ".gitignore", ".gitattributes", ".git/index", ".git/HEAD", ".git/config", ".git/refs/heads/main")


def _stat_line(path: str) -> bytes:
    try:
        st = os.lstat(path)
    except OSError:
        return b"-"
    return b"%d:%d:%d:%d" % (st.st_mode, st.st_size, st.st_mtime_ns, st.st_ino)


def _walk(top: str, out: list[bytes]) -> None:
    try:
        entries = sorted(os.scandir(top), key=lambda e: e.name)
    except OSError:
        out.append(b"!" + top.encode("utf-8", "surrogateescape"))
        return
    for entry in entries:
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        out.append(b"%s=%d:%d:%d:%d" % (entry.name.encode("utf-8", "surrogateescape"), st.st_mode, st.st_size, st.st_mtime_ns, st.st_ino))
        if entry.is_dir(follow_symlinks=False):
            _walk(entry.path, out)


def spec_lines(spec_files: Iterable[Path]) -> list[bytes]:
    """The spec files' part of a fingerprint (``digest`` of it is ``fingerprint(spec_files, None)``)."""
    return [spec.name.encode("utf-8", "surrogateescape") + _stat_line(str(spec)).replace(b":", b";") for spec in spec_files]


def digest(parts: list[bytes]) -> str:
    return hashlib.blake2b(b"\n".join(parts), digest_size=12).hexdigest()


def content_lines(folder: Path) -> list[bytes]:
    """The assets' and outputs' part of a fingerprint: every entry's stat, walked in name order."""
    parts: list[bytes] = []
    for top in ("assets", "outputs"):
        _walk(f"{folder}/{top}", parts)
    return parts


def fingerprint(spec_files: Iterable[Path], folder: Path | None, *, specs_seen: list[bytes] | None = None,
                content_seen: list[bytes] | None = None) -> str:  # fmt: skip
    """Of the spec files (``specs_seen``: their ``spec_lines``, already taken), the folder's root
    files, and its assets and outputs (``content_seen``: their ``content_lines``, already taken)."""
    parts = list(specs_seen) if specs_seen is not None else spec_lines(spec_files)
    if folder is not None:
        base = str(folder)
        parts.append(_stat_line(base))
        for name in _ROOT_FILES:
            parts.append(_stat_line(f"{base}/{name}"))
        parts.extend(content_seen if content_seen is not None else content_lines(folder))
    return digest(parts)
