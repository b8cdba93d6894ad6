"""Settings shared by every component, read from the environment.

Tests build :class:`Settings` directly; processes call :func:`from_env`, which hands
the ``AUTEUR_*`` variables (and ``REDIS_URL``) to ``msgspec.convert`` with
``strict=False``, so ``"8000"`` becomes an int and a bad value is refused with the
variable's name (:class:`SettingsError`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import msgspec

from auteur.identity import parse_author
from auteur.validation import explain_validation


def env_name(field: str) -> str:
    """The environment variable of a setting: ``api_port`` -> ``AUTEUR_API_PORT``
    (``redis_url`` is the usual ``REDIS_URL``)."""
    return "REDIS_URL" if field == "redis_url" else f"AUTEUR_{field.upper()}"


class Settings(msgspec.Struct, kw_only=True, rename=env_name):
    """Where things live and how patient the controller is.

    Each field is read from its variable (:func:`env_name`); ``rename`` names the
    variables for ``msgspec.convert`` only, so code and tests use the field names.
    """

    specs: Path = Path("specs")
    workspace: Path = Path("workspace")
    redis_url: str | None = None
    api_host: str = "0.0.0.0"
    api_port: int = 8000
    web_port: int = 3000
    api_url: str | None = None
    # Origins allowed to call the API from a browser, besides the gallery's (comma-separated).
    cors_origins: tuple[str, ...] = ()
    resync_seconds: float = 60.0
    settle_seconds: float = 2.0
    grace_seconds: float = 2.0
    trash_retention_seconds: float = 7 * 24 * 3600.0
    large_file_bytes: int = 10 * 1024 * 1024
    workers: int = 4
    # RQ workers renew their registration this often; /health counts a worker as
    # running while its last heartbeat is younger than three of these (plus slack).
    worker_heartbeat_seconds: int = 10
    # Redis mode's controller lease (redisbackend.lease), as controller-runtime's: it expires
    # this long after its last renewal, its holder gives up when it could not renew it for the
    # deadline, and renews it (and a standby tries to take it) this often.
    lease_seconds: float = 15.0
    lease_renew_deadline_seconds: float = 10.0
    lease_retry_seconds: float = 2.0
    # A controller touches this file every 5 s, standing by or leading (the containers' health check).
    controller_beat_file: Path | None = None
    # Who may do what (auteur.identity, api.auth): off (everyone may do everything, the
    # default), on (a bearer token or a session cookie), proxy (X-Forwarded-User from a trusted proxy).
    auth: Literal["off", "on", "proxy"] = "off"
    # Accepted as an admin token when set (to create the first users and tokens).
    admin_token: str | None = None
    # proxy mode: the addresses (or networks, e.g. 10.0.0.0/8) whose X-Forwarded-User is believed.
    trusted_proxies: tuple[str, ...] = ()
    # proxy mode: the role of a forwarded user who has no account of their own.
    proxy_role: Literal["viewer", "editor", "admin"] = "viewer"
    # The commit author of changes nobody signed in made (spec files and media dropped by hand,
    # everything with auth off), and the domain of made-up emails (``name@domain``).
    git_author: str = "Auteur <auteur@localhost>"
    email_domain: str = "localhost"
    # How the processes log (auteur.logs): readable text, or one JSON object a line.
    log_format: Literal["text", "json"] = "text"
    # The controller service serves its metrics on this port when set (Prometheus scrapes it).
    metrics_port: int | None = None
    # Below this many free bytes on the workspace volume /health is degraded (naming the disk)
    # and uploads that would go under it are refused (507).
    disk_warning_bytes: int = 1024**3
    # The controller's media integrity pass (controller.scrubbing): a full pass over every project
    # starts this often (0 turns it off), reads at most this many bytes a second (0: no limit),
    # rests this long between two projects, and checks a project again whose commit and files
    # did not change since its last clean check only after ``integrity_recheck_seconds``.
    integrity_interval_seconds: float = 24 * 3600.0
    integrity_rate_bytes: int = 100 * 1024**2
    integrity_pause_seconds: float = 1.0
    integrity_recheck_seconds: float = 7 * 24 * 3600.0

    @property
    def state(self) -> Path:
        """The controller's own folder on the volume (``workspace/.auteur``)."""
        return self.workspace / ".auteur"

    @property
    def public_api_url(self) -> str:
        return self.api_url or f"http://localhost:{self.api_port}"


class SettingsError(ValueError):
    """An environment variable whose value cannot be used; the message names it."""


_VARIABLES = {env_name(f.name): f.name for f in msgspec.structs.fields(Settings)}
_LISTS = frozenset({"cors_origins", "trusted_proxies"})  # comma-separated in the environment


def _paths(kind: type[Any], value: Any) -> Any:
    if kind is Path and isinstance(value, str):
        return Path(value)
    raise NotImplementedError


def from_env(environ: Mapping[str, str] | None = None) -> Settings:
    """Build settings from the environment (``os.environ`` unless given), with
    DESIGN.md's defaults; an empty variable counts as unset. Raises
    :class:`SettingsError` naming the variable whose value is not of its type."""
    env = os.environ if environ is None else environ
    subset: dict[str, Any] = {}
    for variable, field in _VARIABLES.items():
        value = env.get(variable, "")
        if value:
            subset[variable] = [v.strip() for v in value.split(",") if v.strip()] if field in _LISTS else value
    try:
        settings = msgspec.convert(subset, Settings, strict=False, dec_hook=_paths)
    except msgspec.ValidationError as exc:
        name, problem = explain_validation(exc, Settings)
        shown = f"{name}={env.get(name)!r}" if name in _VARIABLES else "the environment"
        raise SettingsError(f"{shown}: {problem}") from None
    try:
        parse_author(settings.git_author)
    except ValueError as exc:
        raise SettingsError(f"{env_name('git_author')}: {exc}") from None
    timings = (settings.lease_retry_seconds, settings.lease_renew_deadline_seconds, settings.lease_seconds)
    if not 0 < timings[0] < timings[1] < timings[2]:
        names = " < ".join(env_name(f) for f in ("lease_retry_seconds", "lease_renew_deadline_seconds", "lease_seconds"))
        raise SettingsError(f"the controller lease needs 0 < {names}; got {' < '.join(f'{t:g}' for t in timings)}")
    return msgspec.structs.replace(
        settings,
        specs=settings.specs.absolute(),
        workspace=settings.workspace.absolute(),
        worker_heartbeat_seconds=max(1, settings.worker_heartbeat_seconds),
    )
