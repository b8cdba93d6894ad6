"""Heartbeats: how a service says it is alive, and the one rule every reader judges them by.

The controller writes a ``Heartbeat`` to ``workspace/.auteur/heartbeat.json`` every
``CONTROLLER_BEAT_SECONDS`` (``controller.heartbeating``); ``/health`` (``api.health``) and
``auteur health`` (``controller.cli``) read it back with ``read`` (the compose health check,
``scripts/healthcheck.sh``, only looks at the file's age). Workers beat in Redis, through
rq's registration renewed every ``AUTEUR_WORKER_HEARTBEAT_SECONDS``; the RQ job queue and
the worker's health check (``redisbackend``) turn that into a ``Heartbeat`` too and judge it
with the same ``is_fresh``, within ``worker_max_age``.
"""

from __future__ import annotations

import os
from pathlib import Path

import msgspec

# The controller rewrites its heartbeat this often, and counts as running while the last
# one is at most CONTROLLER_MAX_AGE old (two missed beats and some slack).
CONTROLLER_BEAT_SECONDS = 5.0
CONTROLLER_MAX_AGE = 15.0


class Heartbeat(msgspec.Struct, kw_only=True):
    """One beat: when (``at``, seconds since the epoch), who, and what it was doing.

    Unknown fields are ignored, unlike in specs: a heartbeat is written by one version
    of the code and read by another during a rolling upgrade, and nobody types it."""

    at: float
    pid: int | None = None
    # The controller's work queue and resync pass when it beat (0 for a worker).
    queue: int = 0
    active: int = 0
    resyncs: int = 0
    resync_last_seconds: float = 0.0
    reconciles: int = 0
    watches: int = 0

    def age(self, now: float) -> float:
        return now - self.at

    def is_fresh(self, now: float, max_age: float) -> bool:
        """At most ``max_age`` old; a beat further in the future is as suspect as an old one (a clock jump)."""
        return -max_age <= self.age(now) <= max_age


def worker_max_age(heartbeat_seconds: float) -> float:
    """How old a worker's last heartbeat may be while it still counts as alive:
    three missed beats, and a few seconds for a busy machine."""
    return 3 * heartbeat_seconds + 5


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Heartbeat)


def encode(beat: Heartbeat) -> bytes:
    return _encoder.encode(beat)


def decode(data: bytes) -> Heartbeat:
    """The beat in ``data``; raises ``msgspec.DecodeError``/``ValidationError`` if it is not one."""
    return _decoder.decode(data)


def read(path: Path) -> Heartbeat | None:
    """The beat in the file at ``path``; None when there is none or it is torn."""
    try:
        return decode(path.read_bytes())
    except (OSError, msgspec.DecodeError, msgspec.ValidationError):
        return None


def touch(path: str | os.PathLike[str]) -> None:
    """Make ``path`` (a process's beat file, whose age the container's health check reads) new."""
    with open(path, "ab"):
        os.utime(path)
