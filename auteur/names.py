"""Project names and the ids derived from them.

The id is a pure function of the name, so the controller, the API and the CLI
all compute it without coordination (DESIGN.md, "Names" and "id").
"""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata

MAX_CHARS = 100
MAX_BYTES = 200

_ALLOWED_PUNCT = frozenset(" -_.")
_NON_ALNUM = re.compile(r"[^a-z0-9]+")


class InvalidName(ValueError):
    """A name that breaks the naming rules; the message says which rule."""


def normalize_name(name: str) -> str:
    """Return the NFC form every component stores and compares."""
    return unicodedata.normalize("NFC", name)


def check_name(name: str) -> str:
    """Validate ``name`` and return its NFC form, or raise :class:`InvalidName`."""
    if not isinstance(name, str):
        raise InvalidName("name must be a string")
    name = normalize_name(name)
    if not name:
        raise InvalidName("name is required")
    if len(name) > MAX_CHARS:
        raise InvalidName(f"name is {len(name)} characters long; at most {MAX_CHARS} are allowed")
    if len(name.encode("utf-8")) > MAX_BYTES:
        raise InvalidName(f"name is {len(name.encode('utf-8'))} bytes in UTF-8; at most {MAX_BYTES} are allowed")
    for char in name:
        if char in ("/", "\\"):
            raise InvalidName(f"name may not contain '{char}' (no paths)")
        category = unicodedata.category(char)
        if category[0] == "C":
            raise InvalidName(f"name may not contain control or invisible characters (U+{ord(char):04X})")
        if char in _ALLOWED_PUNCT or category[0] in ("L", "N") or category[0] == "M":
            continue
        raise InvalidName(f"name may not contain {char!r}; use letters, digits, spaces, '-', '_' and '.'")
    first = name[0]
    if unicodedata.category(first)[0] not in ("L", "N"):
        raise InvalidName("name must start with a letter or digit")
    if name.endswith((" ", ".")):
        raise InvalidName("name may not end with a space or a dot")
    if ".." in name:
        raise InvalidName("name may not contain '..'")
    return name


@functools.lru_cache(maxsize=1 << 16)
def project_id(name: str) -> str:
    """Derive the project id from a name (valid or not; ids of bad names are still stable).

    NFKD, strip accents, lowercase, runs outside ``[a-z0-9]`` become ``-``, trimmed.
    If that lost a letter or digit, or left nothing, a short hash of the NFC name is
    appended so distinct non-Latin names keep distinct ids.
    """
    nfc = normalize_name(name)
    decomposed = unicodedata.normalize("NFKD", nfc)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    slug = _NON_ALNUM.sub("-", stripped.lower()).strip("-")
    kept = sum(1 for c in slug if c.isalnum())
    wanted = sum(1 for c in stripped if c.isalnum())
    if not slug or kept < wanted:
        digest = hashlib.sha256(nfc.encode("utf-8")).hexdigest()[:8]
        return f"{slug or 'p'}-{digest}"
    return slug
