"""Jinja filters: times, sizes and commits as people read them.

Registered by ``web.rendering``. ``static/app.js`` formats the same way when an
event changes a value in the browser (``relativeTime``, ``formatSize``), so keep
the two in step.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

_UNITS = (("d", 86400), ("h", 3600), ("min", 60))


def to_timestamp(value: Any) -> float | None:
    """Seconds since the epoch from a number or an ISO 8601 string; None if neither."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and value:
        try:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=dt.UTC)
        return parsed.timestamp()
    return None


def iso_time(value: Any) -> str:
    """``2026-11-24T03:05:43Z`` for a ``<time datetime>``; empty if unknown."""
    ts = to_timestamp(value)
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if ts is not None else ""


def absolute_time(value: Any) -> str:
    """``2026-11-24 03:05 UTC``; empty if unknown."""
    ts = to_timestamp(value)
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M UTC") if ts is not None else ""


def relative_time(value: Any, now: float | None = None) -> str:
    """``just now``, ``5 min ago``, ``3 h ago``, ``2 d ago``, then the date; ``never`` if unknown."""
    ts = to_timestamp(value)
    if ts is None:
        return "never"
    seconds = (time.time() if now is None else now) - ts
    if seconds < 45:
        return "just now"
    if seconds >= 30 * 86400:
        return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%d %b %Y").lstrip("0")
    for unit, size in _UNITS:
        if seconds >= size:
            return f"{int(seconds // size)} {unit} ago"
    return "1 min ago"


def file_size(value: Any) -> str:
    """``512 B``, ``1.5 KB``, ``20 MB``, ``1.2 GB`` (powers of 1024)."""
    size = float(value or 0)
    unit = "B"
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1024 or unit == "TB":
            break
        size /= 1024
    return f"{int(size)} B" if unit == "B" else f"{size:.1f} {unit}".replace(".0 ", " ")


def short_commit(value: Any) -> str:
    return str(value)[:12] if value else "none yet"
