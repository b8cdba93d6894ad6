"""Writing spec files: the one way people's tools change the desired state.

Called by the API and the CLI. Creating takes a lock on the volume while it checks
that no spec maps to the same id, then creates the file exclusively (``link``), so
of many racing creates of one name exactly one wins; the API's attribution record of the
create (``auteur.attribution``) is written under the same lock, just before the spec.
"""

from __future__ import annotations

import os
from pathlib import Path

from auteur import attribution
from auteur.atomic import create_exclusive, write_atomic
from auteur.attribution import Attribution
from auteur.layout import LOCKS_DIR
from auteur.locks import hold_lock
from auteur.names import project_id
from auteur.specs import Spec, is_spec_file, spec_stem


class SpecExists(Exception):
    """A spec for the same id exists already (any name variant, any format)."""

    def __init__(self, existing: str) -> None:
        self.existing = existing
        super().__init__(f"a project with this name already exists (spec file '{existing}')")


def spec_files_for(specs_dir: Path, key: str) -> list[str]:
    """Every spec file in ``specs_dir`` whose stem maps to ``key``."""
    return sorted(name for name in os.listdir(specs_dir) if is_spec_file(name) and project_id(spec_stem(name)) == key)


def create_spec(specs_dir: Path, state_dir: Path, spec: Spec, asked_by: Attribution | None = None) -> Path:
    """Create ``specs/<name>.yaml``, after the attribution record ``asked_by`` if given;
    raise :class:`SpecExists` if the id is taken."""
    specs_dir.mkdir(parents=True, exist_ok=True)
    with hold_lock(state_dir / LOCKS_DIR / "specs.lock"):
        existing = spec_files_for(specs_dir, spec.id)
        if existing:
            raise SpecExists(existing[0])
        path = specs_dir / f"{spec.name}.yaml"
        if asked_by is not None:
            attribution.write(state_dir, spec.id, asked_by)
        if not create_exclusive(path, spec.to_yaml()):
            raise SpecExists(path.name)
        return path


def replace_spec(path: Path, spec: Spec) -> None:
    """Rewrite an existing spec (PATCH): YAML stays YAML, JSON stays JSON."""
    if path.suffix == ".json":
        import msgspec

        body = msgspec.json.format(msgspec.json.encode(spec), indent=2) + b"\n"
    elif path.suffix == ".toml":
        lines = [
            f"{k} = {_toml_str(v)}"
            for k, v in (("name", spec.name), ("quality", spec.quality.value), ("description", spec.description))
            if v
        ]
        body = ("\n".join(lines) + "\n").encode("utf-8")
    else:
        body = spec.to_yaml()
    write_atomic(path, body)


def _toml_str(value: str) -> str:
    import json

    return json.dumps(value, ensure_ascii=False)


def remove_spec(specs_dir: Path, key: str) -> list[str]:
    """Remove every spec file of ``key``; returns the names removed."""
    removed = []
    for name in spec_files_for(specs_dir, key):
        try:
            os.unlink(specs_dir / name)
            removed.append(name)
        except FileNotFoundError:
            pass
    return removed
