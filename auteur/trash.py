"""The record that describes a trash entry (``workspace/.auteur/trash/<entry>.json``).

Written by ``controller.trash`` when a project is moved to the trash; read by the
controller (restore, purge, expiry) and by the API's trash listing.
"""

from __future__ import annotations

from typing import Annotated

import msgspec


class TrashEntry(msgspec.Struct, kw_only=True):
    """A project in the trash: where it came from, and what its spec said."""

    entry: str
    id: str
    name: str
    folder: str
    quality: str = "standard"
    description: str = ""
    spec_file: str = ""
    created_at: str | None = None
    deleted_at: Annotated[float, msgspec.Meta(description="seconds since the epoch")] = 0.0
