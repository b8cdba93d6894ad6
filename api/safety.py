"""What keeps a file somebody stored from ever running as a page in the API's origin.

``ANSWER_HEADERS`` go on every answer of the API: ``api.app``'s middleware sets them
(errors, 404s, downloads and preflights too) and ``api.openapi`` states them on every
documented response. Browsers then never guess a type (``nosniff``), and whatever the
API serves is a sandboxed document that may run no script, load nothing and never be
framed. An image, video or audio file served inline has ``INLINE_POLICY`` instead:
still no script, but the browser's own viewer, when the file is opened in a tab, may
load it and style its page (in Chromium, ``default-src 'none'`` stops a video's player
from loading the video, and so does a sandbox without ``allow-same-origin``, as the
load then comes from an opaque origin).

``served_as(name)`` is how ``api.assets.send_file`` labels a stored file: the images,
video and audio a browser shows by itself go ``inline`` with their own type; everything
else — HTML, SVG, XML, scripts, PDFs, documents, anything unknown — is an ``attachment``
of ``application/octet-stream``, which a browser saves and never renders. The table goes
by extension (any case), not by ``mimetypes``, whose answers depend on the machine's
``/etc/mime.types``; SVG is never inline: it is a document that can carry script.
"""

from __future__ import annotations

import urllib.parse
from typing import NamedTuple

POLICY = "default-src 'none'; frame-ancestors 'none'; sandbox"
INLINE_POLICY = "default-src 'none'; media-src 'self'; style-src 'unsafe-inline'; frame-ancestors 'none'; sandbox allow-same-origin"
ANSWER_HEADERS = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": POLICY}

ATTACHMENT_TYPE = "application/octet-stream"

INLINE_TYPES = {
    "png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "gif": "image/gif", "webp": "image/webp",
    "avif": "image/avif", "bmp": "image/bmp", "tif": "image/tiff", "tiff": "image/tiff",
    "mp4": "video/mp4", "m4v": "video/mp4", "mov": "video/quicktime", "webm": "video/webm", "mkv": "video/x-matroska",
    "ogv": "video/ogg", "avi": "video/x-msvideo", "mpg": "video/mpeg", "mpeg": "video/mpeg",
    "mp3": "audio/mpeg", "wav": "audio/wav", "flac": "audio/flac", "aac": "audio/aac", "m4a": "audio/mp4",
    "ogg": "audio/ogg", "oga": "audio/ogg", "opus": "audio/ogg", "aif": "audio/aiff", "aiff": "audio/aiff",
}  # fmt: skip


class Served(NamedTuple):
    """The headers a stored file is served with."""

    content_type: str
    disposition: str  # the whole Content-Disposition header
    policy: str  # Content-Security-Policy


def served_as(name: str) -> Served:
    """How a stored file called ``name`` is served: ``CLIP.MP4`` inline as ``video/mp4``,
    ``page.html`` as an attachment of ``application/octet-stream``."""
    _, dot, ext = name.rpartition(".")
    media = INLINE_TYPES.get(ext.lower()) if dot else None
    if media is None:
        return Served(ATTACHMENT_TYPE, content_disposition("attachment", name), POLICY)
    return Served(media, content_disposition("inline", name), INLINE_POLICY)


def content_disposition(disposition: str, name: str) -> str:
    """``attachment; filename="a.txt"``; a name that is not plain printable ASCII also gets
    RFC 5987's ``filename*=UTF-8''…`` (RFC 6266), which browsers prefer, after an ASCII
    stand-in for the few that do not read it. ``%`` goes in the stand-in too, as some
    browsers decode it in ``filename``."""
    fallback = "".join(c if " " <= c <= "~" and c not in '"\\%' else "_" for c in name)
    header = f'{disposition}; filename="{fallback}"'
    if fallback != name:
        header += f"; filename*=UTF-8''{urllib.parse.quote(name, safe='')}"
    return header
