"""Which files go through Git LFS, and the ``.gitattributes``/``.gitignore`` that say so.

Called by ``controller.steps``. The rule used to decide LFS when committing must
be exactly the rule git reads from ``.gitattributes`` (else ``git status`` would
see the file as modified), so both come from here.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection

import jinja2

MEDIA_EXTENSIONS = (
    "mp4", "mov", "mkv", "avi", "mxf", "webm", "m4v", "r3d", "braw",
    "wav", "aif", "aiff", "flac", "mp3", "m4a", "aac", "ogg",
    "png", "jpg", "jpeg", "tif", "tiff", "exr", "dpx", "tga", "hdr", "gif", "webp", "heic",
    "psd", "kra", "blend", "fbx", "abc", "obj", "usd", "usda", "usdc", "usdz",
    "pdf", "zip",
)  # fmt: skip

_MEDIA = frozenset(MEDIA_EXTENSIONS) | frozenset(e.upper() for e in MEDIA_EXTENSIONS)

_env = jinja2.Environment(
    loader=jinja2.PackageLoader("controller", "templates"),
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
    autoescape=False,
)


def is_media(relpath: str) -> bool:
    """True if git's ``*.ext``/``*.EXT`` lines route this path through LFS."""
    name = relpath.rsplit("/", 1)[-1]
    _, dot, ext = name.rpartition(".")
    return bool(dot) and ext in _MEDIA


def escape_pattern(relpath: str) -> str:
    """An anchored gitattributes pattern matching exactly ``relpath``."""
    out = []
    for char in relpath:
        if char in '\\[]*?!#"':
            out.append("\\" + char)
        elif char.isspace():
            out.append("[[:space:]]")
        else:
            out.append(char)
    return "/" + "".join(out)


def large_paths(files: dict[str, int], threshold: int) -> list[str]:
    """Non-media files over the threshold: each gets its own LFS line."""
    return sorted(path for path, size in files.items() if size > threshold and not is_media(path))


def render_gitattributes(large: Collection[str], threshold: int) -> bytes:
    return _render_gitattributes(tuple(sorted(large)), threshold)


@functools.lru_cache(maxsize=256)
def _render_gitattributes(large: tuple[str, ...], threshold: int) -> bytes:
    text = _env.get_template("gitattributes.j2").render(
        media=MEDIA_EXTENSIONS, large=[escape_pattern(p) for p in sorted(large)], threshold=threshold
    )
    return text.encode("utf-8")


@functools.cache
def render_gitignore() -> bytes:
    return _env.get_template("gitignore.j2").render().encode("utf-8")


def lfs_rule(large: Collection[str]) -> Callable[[str, int], bool]:
    """The predicate the snapshot uses; mirrors the rendered ``.gitattributes``."""
    large_set = frozenset(large)

    def is_lfs(relpath: str, size: int) -> bool:
        return relpath in large_set or is_media(relpath)

    return is_lfs
