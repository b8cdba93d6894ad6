"""``/api/v1/trash``: list deleted projects, restore one, purge one.

Routed by ``api.app.create_app``; ``api.projects`` uses it for ``DELETE ?purge=true``.
Listing reads the trash records on the volume (``workspace/.auteur/trash/*.json``)
itself. Restoring and purging move or delete folders, which only the controller
may do: the API writes a request (``auteur.mailbox``) and waits for the
controller's answer. A request the controller has not answered within
``wait_timeout`` stays queued (it is carried out when a controller runs) and the
answer is 202. The request names who asked (``api.actors``), and each restore or
purge done or queued is appended to the audit log.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import anyio.to_thread
import falcon
import falcon.asgi
import msgspec

from api.actors import actor_of, audit, audit_entry
from api.config import ApiConfig
from api.errors import ApiError, conflict, not_found
from api.index import ProjectIndex
from api.schemas import RequestPending, TrashItem
from api.waiting import wait_for_status
from auteur import mailbox
from auteur.identity import Actor
from auteur.mailbox import RequestResult
from auteur.status import ProjectStatus
from auteur.trash import find_entry, read_entries

_encoder = msgspec.json.Encoder()
NOT_IN_TRASH = "nothing in the trash matches"


def trash_records(state_dir: Path, retention_seconds: float | None = None) -> list[TrashItem]:
    """Every complete trash entry (``auteur.trash.read_entries``), newest first, with
    when it expires if the retention is given."""
    items = []
    for entry in read_entries(state_dir):
        expires_at = entry.deleted_at + retention_seconds if retention_seconds is not None else None
        items.append(TrashItem(**msgspec.structs.asdict(entry), expires_at=expires_at))
    return items


def find_record(records: list[TrashItem], ref: str) -> TrashItem:
    """An entry by its entry name, project id or project name (newest first), like the controller."""
    record = find_entry(records, ref)
    if record is None:
        not_found(f"{NOT_IN_TRASH} {ref!r}", "entry")
    return record


async def carry_out(config: ApiConfig, action: str, record: TrashItem, actor: Actor | None) -> RequestResult | RequestPending:
    """Have the controller ``restore`` or ``purge`` ``record`` on ``actor``'s behalf, and put
    it in the audit log once done or queued."""
    answer = await submit_and_wait(config, action, record.entry, actor)
    if isinstance(answer, RequestPending) or answer.ok:
        pending = {"pending": True} if isinstance(answer, RequestPending) else {}
        await audit(config, audit_entry(config, actor, f"trash.{action}", record.id, entry=record.entry, **pending))
    return answer


async def submit_and_wait(config: ApiConfig, action: str, entry: str, actor: Actor | None) -> RequestResult | RequestPending:
    """Hand ``action`` on ``entry`` to the controller and wait for its answer."""
    state = config.settings.state
    request = await anyio.to_thread.run_sync(mailbox.submit, state, action, entry, actor)
    deadline = time.monotonic() + config.wait_timeout
    while True:
        # timeout=0: one look at the result file, no sleeping in the event loop.
        result = mailbox.wait_result(state, request.id, 0)
        if result is not None:
            return result
        if time.monotonic() >= deadline:
            return RequestPending(request=request.id, action=action, entry=entry)
        await asyncio.sleep(0.01)


def _raise_failed(result: RequestResult) -> None:
    if result.message.startswith(NOT_IN_TRASH):
        not_found(result.message, "entry")
    conflict(result.message, "entry")


class TrashResource:
    """``/api/v1/trash``, ``/api/v1/trash/{entry}`` (suffix ``item``) and ``.../restore`` (suffix ``restore``)."""

    def __init__(self, config: ApiConfig, index: ProjectIndex) -> None:
        self.config, self.index = config, index

    async def _records(self) -> list[TrashItem]:
        return await anyio.to_thread.run_sync(trash_records, self.config.settings.state, self.config.settings.trash_retention_seconds)

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        resp.content_type = falcon.MEDIA_JSON
        resp.data = _encoder.encode(await self._records())

    async def on_get_item(self, req: falcon.asgi.Request, resp: falcon.asgi.Response, entry: str) -> None:
        resp.content_type = falcon.MEDIA_JSON
        resp.data = _encoder.encode(find_record(await self._records(), entry))

    async def on_post_restore(self, req: falcon.asgi.Request, resp: falcon.asgi.Response, entry: str) -> None:
        record = find_record(await self._records(), entry)
        answer = await carry_out(self.config, "restore", record, actor_of(req))
        resp.content_type = falcon.MEDIA_JSON
        if isinstance(answer, RequestPending):
            resp.status = 202
            resp.data = _encoder.encode(answer)
            return
        if not answer.ok:
            _raise_failed(answer)
        key = answer.project_id or record.id

        def reported(status: ProjectStatus | None) -> bool:
            return status is not None

        # The controller reconciles a restored project before it answers; this only
        # guards against a status file that is still being replaced.
        await wait_for_status(self.index.store, key, reported, self.config.wait_timeout)
        project = self.index.refresh_one(key)
        if project is None:
            raise ApiError(500, "the project was restored but its status cannot be read", code="internal_error")
        resp.data = _encoder.encode(project)

    async def on_delete_item(self, req: falcon.asgi.Request, resp: falcon.asgi.Response, entry: str) -> None:
        record = find_record(await self._records(), entry)
        answer = await carry_out(self.config, "purge", record, actor_of(req))
        if isinstance(answer, RequestPending):
            resp.status = 202
            resp.content_type = falcon.MEDIA_JSON
            resp.data = _encoder.encode(answer)
            return
        if not answer.ok:
            _raise_failed(answer)
        resp.status = 204
