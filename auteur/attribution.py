"""Who asked for a spec change: the record the API leaves for the controller's commit.

The API writes ``workspace/.auteur/actors/<project id>.json`` (``write``) just before it
writes, edits or removes a spec on someone's behalf; the controller (``controller.converging``)
``read``s it when it converges that spec and commits as that person only if the record
names the very generation it converges (or, for a removal, the generation it last saw):
a spec written or removed by hand in between is the default identity's. The controller
``discard``s the record once the project has gone to the trash.
"""

from __future__ import annotations

import enum
from pathlib import Path

import msgspec

from auteur.atomic import write_atomic
from auteur.identity import Actor
from auteur.layout import ACTORS_DIR


class Action(str, enum.Enum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"


class Attribution(msgspec.Struct, kw_only=True):
    """``actor`` asked for ``action`` on the spec of ``generation`` (``Spec.generation()``)
    at ``at`` (seconds since the epoch)."""

    action: Action
    generation: str | None
    actor: Actor
    at: float


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Attribution)


def path_of(state_dir: Path, project_id: str) -> Path:
    return state_dir / ACTORS_DIR / f"{project_id}.json"


def write(state_dir: Path, project_id: str, record: Attribution) -> None:
    """Replace the project's record atomically (before the spec it speaks for is written)."""
    path = path_of(state_dir, project_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, _encoder.encode(record))


def read(state_dir: Path, project_id: str) -> Attribution | None:
    """The project's record; None when there is none or it cannot be read (nobody is named)."""
    try:
        return _decoder.decode(path_of(state_dir, project_id).read_bytes())
    except (OSError, msgspec.DecodeError):  # ValidationError is a DecodeError too
        return None


def discard(state_dir: Path, project_id: str, record: Attribution) -> None:
    """Remove the project's record if it is still ``record`` (a newer one, written for a
    request that came meanwhile, stays)."""
    if read(state_dir, project_id) == record:
        path_of(state_dir, project_id).unlink(missing_ok=True)
