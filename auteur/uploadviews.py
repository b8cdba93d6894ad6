"""The shared view of uploads: where each one is, for every API replica to read.

Written by the API while it receives an upload (``api.uploads``) and by the worker
while it ingests it (``worker.ingesting``). The volume's upload record stays the
source of truth: a view is a courtesy, so ``update`` never raises (a write that
fails is logged and dropped, and the next state change writes the whole state
again). The embedded default has no view (``NoUploadView``); Redis mode keeps one
hash per project (``redisbackend.uploadviews``).
"""

from __future__ import annotations

from typing import Any, Protocol


class UploadView(Protocol):
    def update(self, project_id: str, upload_id: str, state: dict[str, Any]) -> None: ...


class NoUploadView:
    """The embedded default: the records on the volume are the only view."""

    def update(self, project_id: str, upload_id: str, state: dict[str, Any]) -> None:
        pass
