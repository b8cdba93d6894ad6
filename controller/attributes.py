"""Which files go through Git LFS, and the ``.gitattributes``/``.gitignore`` that say so.

Called by ``controller.steps``. The rule used to decide LFS when committing must
be exactly the rule git reads from ``.gitattributes`` (else ``git status`` would
see the file as modified), so both come from here; the list of media extensions
lives in ``auteur.media`` so the API reports the same rule.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection

import jinja2

from auteur.media import MEDIA_EXTENSIONS, is_media

_env = jinja2.Environment(
    loader=jinja2.PackageLoader("controller", "templates"),
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
    autoescape=False,
)


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
