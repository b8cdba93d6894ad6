"""Settings shared by every component, read from the environment.

Tests build :class:`Settings` directly; processes call :func:`from_env`.
"""

from __future__ import annotations

import os
from pathlib import Path

import msgspec


class Settings(msgspec.Struct, kw_only=True):
    """Where things live and how patient the controller is."""

    specs: Path = Path("specs")
    workspace: Path = Path("workspace")
    redis_url: str | None = None
    api_port: int = 8000
    web_port: int = 3000
    api_url: str | None = None
    resync_seconds: float = 60.0
    settle_seconds: float = 2.0
    grace_seconds: float = 2.0
    trash_retention_seconds: float = 7 * 24 * 3600.0
    large_file_bytes: int = 10 * 1024 * 1024
    workers: int = 4
    # RQ workers renew their registration this often; /health counts a worker as
    # running while its last heartbeat is younger than three of these (plus slack).
    worker_heartbeat_seconds: int = 10

    @property
    def state(self) -> Path:
        """The controller's own folder on the volume (``workspace/.auteur``)."""
        return self.workspace / ".auteur"

    @property
    def public_api_url(self) -> str:
        return self.api_url or f"http://localhost:{self.api_port}"


def _float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value else default


def from_env() -> Settings:
    """Build settings from ``AUTEUR_*`` variables, with DESIGN.md's defaults."""
    env = os.environ
    return Settings(
        specs=Path(env.get("AUTEUR_SPECS", "./specs")).absolute(),
        workspace=Path(env.get("AUTEUR_WORKSPACE", "./workspace")).absolute(),
        redis_url=env.get("REDIS_URL") or None,
        api_port=int(env.get("AUTEUR_API_PORT", "8000")),
        web_port=int(env.get("AUTEUR_WEB_PORT", "3000")),
        api_url=env.get("AUTEUR_API_URL") or None,
        resync_seconds=_float("AUTEUR_RESYNC_SECONDS", 60.0),
        settle_seconds=_float("AUTEUR_SETTLE_SECONDS", 2.0),
        grace_seconds=_float("AUTEUR_GRACE_SECONDS", 2.0),
        trash_retention_seconds=_float("AUTEUR_TRASH_RETENTION_SECONDS", 7 * 24 * 3600.0),
        large_file_bytes=int(env.get("AUTEUR_LARGE_FILE_BYTES", str(10 * 1024 * 1024))),
        workers=int(env.get("AUTEUR_WORKERS", "4")),
        worker_heartbeat_seconds=max(1, int(env.get("AUTEUR_WORKER_HEARTBEAT_SECONDS", "10"))),
    )
