"""Who is asking, and what the API writes down on their behalf.

Used by every resource that changes something (``api.projects``, ``api.assets`` and
``api.uploads``, ``api.trash``). ``actor_of`` reads the person the auth layer (``api.auth``)
put on the request as ``req.context.actor``; with auth off there is none. ``attribute``
leaves the record the controller commits a spec change by (``auteur.attribution``), and
``audit`` appends to the audit log (``auteur.audit``): both in a worker thread.
"""

from __future__ import annotations

from typing import Any

import anyio.to_thread
import falcon.asgi

from api.config import ApiConfig
from auteur import attribution
from auteur import audit as auditlog
from auteur.attribution import Action, Attribution
from auteur.audit import AuditEntry
from auteur.identity import Actor


def actor_of(req: falcon.asgi.Request) -> Actor | None:
    """The signed-in person making ``req``, or None (auth off)."""
    return getattr(req.context, "actor", None)


def name_of(actor: Actor | None) -> str | None:
    return actor.name if actor is not None else None


def attribution_for(config: ApiConfig, actor: Actor | None, action: Action, generation: str | None) -> Attribution | None:
    """The record saying ``actor`` asks for ``action`` on the spec of ``generation``; None
    when nobody is known (the controller then commits as the default identity)."""
    if actor is None:
        return None
    return Attribution(action=action, generation=generation, actor=actor, at=config.clock())


async def attribute(config: ApiConfig, project_id: str, record: Attribution | None) -> None:
    """Write ``record`` for ``project_id`` (before the spec change it speaks for)."""
    if record is not None:
        await anyio.to_thread.run_sync(attribution.write, config.settings.state, project_id, record)


def audit_entry(config: ApiConfig, actor: Actor | None, action: str, project: str | None = None, **details: Any) -> AuditEntry:
    return AuditEntry(at=config.clock(), actor=name_of(actor), action=action, project=project, details=details)


async def audit(config: ApiConfig, *entries: AuditEntry) -> None:
    """Append ``entries`` to the audit log, in one write."""
    await anyio.to_thread.run_sync(lambda: auditlog.append(config.settings.state, *entries))
