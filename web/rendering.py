"""The jinja2 environment and the static files' cache-busting versions.

Built once per app by ``web.app.create_app``. Templates refer to static files
through ``static_url('app.js')`` → ``/static/app.js?v=<content hash>``, so browsers
may cache them for good (``web.app`` marks versioned responses immutable).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import anyio.to_thread
import jinja2

from auteur.layout import asset_type_of
from web import formatting
from web.pictures import hue_of, initials_of, preview_of

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"

QUALITIES = ("draft", "standard", "premium")
LIVE_STATUSES = frozenset({"pending", "processing", "deleting"})
# The reason of a ``<Thing>Failed`` condition the controller retries (any unexpected error);
# every other reason is permanent: stalled until the spec or the folder changes.
TEMPORARY_REASON = "StepError"


def static_versions(root: Path = STATIC) -> dict[str, str]:
    """File name → short hash of its content."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()[:10] for p in sorted(root.iterdir()) if p.is_file()}


def failure_message(project: dict[str, Any]) -> str:
    """Why a failed project failed: its last error, else the ``Ready`` condition's message."""
    if project.get("last_error"):
        return str(project["last_error"])
    for cond in project.get("conditions") or ():
        if isinstance(cond, dict) and cond.get("type") == "Ready" and cond.get("message"):
            return str(cond["message"])
    return "failed"


def failure_title(project: dict[str, Any]) -> str:
    """What failed and what happens next: ``Spec failed; stalled until fixed`` for a permanent
    failure (the controller waits for a change), ``…; retrying`` for a temporary one."""
    conditions = [c for c in project.get("conditions") or () if isinstance(c, dict)]
    ready = next((c for c in conditions if c.get("type") == "Ready"), None)
    failed = str(ready.get("reason") or "") if ready else ""
    if not failed.endswith("Failed") or failed == "Failed":
        return "Failed"
    step = next((c for c in conditions if c.get("type") == failed), {})
    after = "retrying" if step.get("reason") == TEMPORARY_REASON else "stalled until fixed"
    return f"{failed.removesuffix('Failed')} failed; {after}"


class Renderer:
    """Renders a template by name in a worker thread (1,000 cards take a few tens of ms)."""

    def __init__(self) -> None:
        versions = static_versions()
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(TEMPLATES),
            autoescape=jinja2.select_autoescape(("html",)),
            trim_blocks=True,
            lstrip_blocks=True,
            undefined=jinja2.ChainableUndefined,
        )
        self.env.filters.update(
            relative_time=formatting.relative_time,
            absolute_time=formatting.absolute_time,
            iso_time=formatting.iso_time,
            file_size=formatting.file_size,
            short_commit=formatting.short_commit,
            failure_message=failure_message,
            failure_title=failure_title,
            hue=hue_of,
            initials=initials_of,
        )
        self.env.globals.update(
            static_url=lambda name: f"/static/{name}?v={versions.get(name, '0')}",
            qualities=QUALITIES,
            live_statuses=LIVE_STATUSES,
            asset_type_of=asset_type_of,
            preview_of=preview_of,
        )

    def render_sync(self, name: str, **context: Any) -> str:
        return self.env.get_template(name).render(**context)

    async def render(self, name: str, **context: Any) -> str:
        return await anyio.to_thread.run_sync(lambda: self.render_sync(name, **context))
