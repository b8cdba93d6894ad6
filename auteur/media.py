"""Which files are media, and so always go through Git LFS.

Shared so the API can say whether a listed asset is stored through LFS without
importing the controller: ``controller.attributes`` renders ``.gitattributes``
from ``MEDIA_EXTENSIONS`` and decides with ``is_media``; ``api.assets`` reports
with ``stored_in_lfs``.
"""

from __future__ import annotations

MEDIA_EXTENSIONS = (
    "mp4", "mov", "mkv", "avi", "mxf", "webm", "m4v", "r3d", "braw",
    "wav", "aif", "aiff", "flac", "mp3", "m4a", "aac", "ogg",
    "png", "jpg", "jpeg", "tif", "tiff", "exr", "dpx", "tga", "hdr", "gif", "webp", "heic",
    "psd", "kra", "blend", "fbx", "abc", "obj", "usd", "usda", "usdc", "usdz",
    "pdf", "zip",
)  # fmt: skip

# git matches the ``*.ext`` and ``*.EXT`` lines literally (cameras write CLIP.MP4).
_MEDIA = frozenset(MEDIA_EXTENSIONS) | frozenset(e.upper() for e in MEDIA_EXTENSIONS)


def is_media(relpath: str) -> bool:
    """True if git's ``*.ext``/``*.EXT`` lines route this path through LFS."""
    name = relpath.rsplit("/", 1)[-1]
    _, dot, ext = name.rpartition(".")
    return bool(dot) and ext in _MEDIA


def stored_in_lfs(relpath: str, size: int, large_file_bytes: int) -> bool:
    """True if the controller commits this file through LFS: media, or any file
    over the large-file threshold (which gets its own ``.gitattributes`` line)."""
    return is_media(relpath) or size > large_file_bytes
