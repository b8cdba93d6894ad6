"""Spec files: the desired state of one project, parsed and validated with msgspec.

Called by the controller (every reconcile reads the whole spec) and by the API
(which writes the same files). A spec that cannot be read raises :class:`SpecError`
naming the file, the field and the problem.
"""

from __future__ import annotations

import enum
import hashlib
import tomllib
from pathlib import Path
from typing import Annotated

import msgspec
import yaml

from auteur.names import InvalidName, check_name, project_id
from auteur.validation import explain_validation

_YamlLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

SPEC_SUFFIXES = (".yaml", ".yml", ".json", ".toml")
MAX_SPEC_BYTES = 64 * 1024

Description = Annotated[str, msgspec.Meta(max_length=10_000)]


class Quality(str, enum.Enum):
    DRAFT = "draft"
    STANDARD = "standard"
    PREMIUM = "premium"


class Strict(msgspec.Struct, forbid_unknown_fields=True):
    """Base of every schema people write by hand.

    Unknown fields are rejected to error nicely on typos (``qualty: draft``)
    instead of silently ignoring them.
    """


class Spec(Strict):
    """The desired state of one project (``specs/<name>.yaml``)."""

    name: str
    quality: Quality = Quality.STANDARD
    description: Description = ""
    # Leave the project alone (no snapshots, no repairs) until this is false or gone again.
    suspend: Annotated[bool, msgspec.Meta(description="leave the folder alone: no snapshots, no repairs")] = False

    def __post_init__(self) -> None:
        try:
            check_name(self.name)
        except InvalidName as exc:
            raise ValueError(f"Invalid name: {exc}") from None

    @property
    def id(self) -> str:
        return project_id(self.name)

    def generation(self) -> str:
        """Hash of the parsed content: formatting and comments do not count."""
        fields = msgspec.to_builtins(self)
        if not self.suspend:
            del fields["suspend"]  # a spec that never mentions it keeps the generation it always had
        canonical = msgspec.json.encode(fields, order="sorted")
        return hashlib.sha256(canonical).hexdigest()[:16]

    def to_yaml(self) -> bytes:
        body: dict[str, str | bool] = {"name": self.name, "quality": self.quality.value}
        if self.description:
            body["description"] = self.description
        if self.suspend:
            body["suspend"] = True
        return yaml.dump(body, Dumper=_SpecDumper, allow_unicode=True, sort_keys=False).encode("utf-8")


class _SpecDumper(yaml.SafeDumper):
    r"""PyYAML writes U+0085 (NEL) raw in plain and single-quoted scalars, where its own reader
    takes it for a line break (``"a\x85b"`` came back as ``"a b"``); such a string is written
    double-quoted instead, where NEL is escaped as ``\N``."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style='"' if "\x85" in value else None)


_SpecDumper.add_representer(str, _represent_str)


class SpecError(Exception):
    """A spec file that cannot be used; carries the file, the field and the problem."""

    def __init__(self, file: str, field: str | None, problem: str) -> None:
        self.file = file
        self.field = field
        self.problem = problem
        where = f" field {field!r}:" if field else ""
        super().__init__(f"{file}:{where} {problem}")


def is_spec_file(filename: str) -> bool:
    return not filename.startswith(".") and filename.endswith(SPEC_SUFFIXES)


def spec_stem(filename: str) -> str:
    for suffix in SPEC_SUFFIXES:
        if filename.endswith(suffix):
            return filename[: -len(suffix)]
    return filename


def decode_spec(data: bytes, filename: str) -> Spec:
    """Parse and validate spec bytes; the format comes from the file's suffix."""
    if len(data) > MAX_SPEC_BYTES:
        raise SpecError(filename, None, f"file is larger than {MAX_SPEC_BYTES} bytes")
    try:
        if filename.endswith(".json"):
            raw: object = msgspec.json.decode(data)
        elif filename.endswith(".toml"):
            raw = tomllib.loads(data.decode("utf-8"))
        else:
            raw = yaml.load(data.decode("utf-8"), Loader=_YamlLoader)
    except (msgspec.DecodeError, tomllib.TOMLDecodeError, yaml.YAMLError, UnicodeDecodeError) as exc:
        raise SpecError(filename, None, f"cannot be parsed: {str(exc).splitlines()[0]}") from None
    if not isinstance(raw, dict):
        raise SpecError(filename, None, "must be a mapping with at least a 'name' field")
    try:
        spec = msgspec.convert(raw, Spec)
    except msgspec.ValidationError as exc:
        field, problem = explain_validation(exc, Spec)
        if field is None and problem.startswith("Invalid name"):  # from __post_init__, which names no field
            field = "name"
        raise SpecError(filename, field, problem) from None
    stem = spec_stem(filename)
    if spec.name != stem and spec.name != _nfc(stem):
        raise SpecError(filename, "name", f"name {spec.name!r} does not match the file name {stem!r}")
    return spec


def _nfc(text: str) -> str:
    from auteur.names import normalize_name

    return normalize_name(text)


def read_spec(path: Path) -> Spec:
    """Read and validate one spec file."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SpecError(path.name, None, f"cannot be read: {exc.strerror}") from None
    return decode_spec(data, path.name)
