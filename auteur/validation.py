"""msgspec's validation errors as ``(field, message)`` that people can act on.

The one formatter for every struct people write: spec files (``auteur.specs``),
request bodies (``api.errors``) and the environment (``auteur.settings``). msgspec
says ``Invalid enum value 'x' - at `$.quality```; this says field ``quality``,
``Invalid enum value 'x'; expected one of draft, standard, premium``.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec

_PATH = re.compile(r" - at `\$\.?([^`]*)`$")


def field_names(kind: type[Any]) -> list[str]:
    """The names a struct is written with (its encode names), in declaration order."""
    info = msgspec.inspect.type_info(kind)
    return [f.encode_name for f in info.fields] if isinstance(info, msgspec.inspect.StructType) else []


def _field_info(kind: type[Any], name: str) -> msgspec.inspect.Field | None:
    info = msgspec.inspect.type_info(kind)
    if isinstance(info, msgspec.inspect.StructType):
        for f in info.fields:
            if f.encode_name == name:
                return f
    return None


def _enum_values(field: msgspec.inspect.Field) -> list[str]:
    types = field.type.types if isinstance(field.type, msgspec.inspect.UnionType) else (field.type,)
    for t in types:
        if isinstance(t, msgspec.inspect.EnumType):
            return [str(m.value) for m in t.cls]
    return []


def explain_validation(exc: msgspec.ValidationError, kind: type[Any] | None = None) -> tuple[str | None, str]:
    """``(field, message)`` for a validation error of ``kind`` (a struct), or of any
    type when ``kind`` is None (then the message cannot list the allowed fields)."""
    text = str(exc)
    if text.startswith("Object contains unknown field `"):
        field = text.split("`")[1]
        allowed = ", ".join(field_names(kind)) if kind is not None else ""
        return field, f"unknown field '{field}'" + (f" (allowed: {allowed})" if allowed else "")
    if text.startswith("Object missing required field `"):
        field = text.split("`")[1]
        return field, f"{field} is required"
    match = _PATH.search(text)
    if match is None:
        return None, text
    at, problem = match.group(1), text[: match.start()]
    if not at:
        return None, problem
    info = _field_info(kind, at) if kind is not None else None
    if "got `null`" in problem:
        # A null where a default exists means "leave it out", not "it is required".
        if info is not None and not info.required:
            return at, f"{at} may not be null (leave it out for the default)"
        return at, f"{at} is required"
    if problem.startswith("Invalid enum value") and info is not None:
        values = _enum_values(info)
        if values:
            return at, f"{problem}; expected one of {', '.join(values)}"
    return at, problem
