"""``GET /api/v1/audit``: the audit log, newest first, a page at a time.

Routed by ``api.app.create_app`` (an admin's operation: the route table marks it for the
auth layer). The entries are the ones the resources append through ``api.actors.audit``;
reading them is ``auteur.audit.read``, which starts from the end of the log, or from the
cursor a previous page gave as ``next``, and reads no more of it than the page needs.
"""

from __future__ import annotations

import anyio.to_thread
import falcon
import falcon.asgi
import msgspec

from api.config import ApiConfig
from api.errors import count_param
from auteur import audit
from auteur.names import project_id

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
# A cursor is a byte offset into the log: anything a JSON number holds exactly is accepted.
MAX_BEFORE = 2**53
_encoder = msgspec.json.Encoder()


class AuditResource:
    """``/api/v1/audit?project=&actor=&limit=&before=``."""

    def __init__(self, config: ApiConfig) -> None:
        self.config = config

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        project = req.get_param("project")
        actor = req.get_param("actor")
        limit = count_param(req, "limit", MAX_LIMIT, minimum=1) or DEFAULT_LIMIT
        before = count_param(req, "before", MAX_BEFORE)
        page = await anyio.to_thread.run_sync(lambda: audit.read(
            self.config.settings.state, project=project_id(project) if project is not None else None, actor=actor,
            limit=limit, before=before,
        ))  # fmt: skip
        resp.content_type = falcon.MEDIA_JSON
        resp.data = _encoder.encode(page)
