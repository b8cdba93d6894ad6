"""Which picture a gallery card shows, and which preview each asset gets on the project page.

``choose_picture`` is called by ``web.pages.PictureResource``: the newest image a browser can display,
else a poster frame of the newest video (made off the request path by the
``worker.media.poster`` job into the project's ``temp/posters/`` and served by the
API under ``/api/v1/projects/{id}/posters/{video path}``), else nothing and the
card keeps its placeholder. ``preview_of`` is called by the project page's template
(``_preview.html``, through ``web.rendering``): an image's thumbnail (made by the
``worker.thumbnails.thumbnail`` job, served under ``/api/v1/projects/{id}/thumbnails/``),
a player for the video and audio a browser plays (streamed with ``Range`` from the
download URL), else a video's poster. Pure functions, so the choices are tested without
a server.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from auteur.thumbnails import is_image
from web.client import quote_path

# What <img> renders in every current browser (camera and VFX formats are not here, nor SVG:
# the API serves it as an attachment, as a document that could carry script).
IMAGE_EXTENSIONS = frozenset({"png", "jpg", "jpeg", "gif", "webp", "avif", "bmp"})
VIDEO_EXTENSIONS = frozenset({"mp4", "mov", "m4v", "webm", "mkv", "avi", "mxf"})
# What Chromium and Firefox play in <video> and <audio> (by extension: a .mov or .mkv whose
# codec the browser lacks, ProRes say, falls back to its poster in static/project.js).
PLAYABLE_VIDEO = frozenset({"mp4", "m4v", "webm", "mov", "mkv", "ogv"})
PLAYABLE_AUDIO = frozenset({"wav", "mp3", "flac", "aac", "m4a", "ogg", "oga", "opus"})
HUES = 12


def extension(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    _, dot, ext = name.rpartition(".")
    return ext.lower() if dot else ""


def _newest(assets: list[dict[str, Any]], extensions: frozenset[str]) -> dict[str, Any] | None:
    found = [a for a in assets if isinstance(a.get("path"), str) and extension(a["path"]) in extensions]
    return max(found, key=lambda a: (float(a.get("mtime") or 0.0), a["path"])) if found else None


@dataclass(frozen=True)
class Choice:
    """``image``: show this asset; ``video``: show its poster if the API has one."""

    kind: str
    path: str


def choose_picture(assets: list[dict[str, Any]]) -> Choice | None:
    """The newest displayable image, else the newest video, else None."""
    image = _newest(assets, IMAGE_EXTENSIONS)
    if image is not None:
        return Choice("image", image["path"])
    video = _newest(assets, VIDEO_EXTENSIONS)
    return Choice("video", video["path"]) if video is not None else None


def asset_url(project_id: str, path: str) -> str:
    """The API path that downloads an asset."""
    return f"/api/v1/projects/{quote_path(project_id)}/assets/{quote_path(path)}"


def poster_url(project_id: str, video_path: str) -> str:
    """The API path of a video's poster frame (``temp/posters/<video path>.jpg``)."""
    return f"/api/v1/projects/{quote_path(project_id)}/posters/{quote_path(video_path)}"


def thumbnail_url(project_id: str, image_path: str) -> str:
    """The API path of an image's thumbnail (made from its committed bytes)."""
    return f"/api/v1/projects/{quote_path(project_id)}/thumbnails/{quote_path(image_path)}"


@dataclass(frozen=True)
class Preview:
    """What the project page shows for one asset: ``kind`` is ``image`` (a thumbnail, a
    link to the full image when ``viewable``, else to its download), ``video`` (a
    player, with the poster), ``poster`` (a video no browser plays: its poster frame) or
    ``audio`` (a player); the URLs are the API's paths."""

    kind: str
    source: str
    picture: str = ""
    viewable: bool = False


def preview_of(project_id: str, path: str) -> Preview | None:
    """The preview of the asset at ``path``, or None for a file that has none."""
    ext = extension(path)
    source = asset_url(project_id, path)
    if ext in VIDEO_EXTENSIONS:
        return Preview("video" if ext in PLAYABLE_VIDEO else "poster", source, poster_url(project_id, path))
    if ext in PLAYABLE_AUDIO:
        return Preview("audio", source)
    if is_image(path):
        return Preview("image", source, thumbnail_url(project_id, path), viewable=ext in IMAGE_EXTENSIONS)
    return None


def hue_of(project_id: str) -> int:
    """A stable colour slot (``hue-0`` … ``hue-11``) for a project's placeholder: FNV-1a
    of the id, which ``static/gallery.js`` (``hueOf``) computes the same way."""
    value = 0x811C9DC5
    for byte in project_id.encode():
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return value % HUES


def initials_of(name: str) -> str:
    """Up to two letters for the placeholder: ``My Film`` → ``MF``, ``映画`` → ``映画``."""
    words = [w for w in name.replace("_", " ").replace("-", " ").replace(".", " ").split() if w]
    if len(words) >= 2:
        return (words[0][0] + words[1][0]).upper()
    return (words[0][:2] if words else "?").upper()


# Laid over a video project's placeholder while its poster frame is not there yet.
VIDEO_BADGE_SVG = b"""<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 160 90" width="160" height="90">
<circle cx="80" cy="45" r="17" fill="rgba(0,0,0,.45)"/><path d="M74 36 L91 45 L74 54 Z" fill="#fff"/></svg>"""
