"""The fixed layout of a project folder and of the controller's state folder.

Shared so the API can map an ``asset_type`` to a folder without importing the
controller.
"""

from __future__ import annotations

ASSET_TYPES = ("scripts", "storyboards", "characters", "locations", "styles", "audio")
OUTPUT_TYPES = ("renders", "edits")

# asset_type -> folder relative to the project root
TYPE_FOLDERS: dict[str, str] = {
    **{name: f"assets/{name}" for name in ASSET_TYPES},
    **{name: f"outputs/{name}" for name in OUTPUT_TYPES},
}

TRACKED_ROOTS = ("assets", "outputs")
LEAF_FOLDERS = tuple(TYPE_FOLDERS.values())
FOLDERS = ("assets", *(f"assets/{n}" for n in ASSET_TYPES), "outputs", *(f"outputs/{n}" for n in OUTPUT_TYPES), "temp")

MANIFEST = "project.json"
GITIGNORE = ".gitignore"
GITATTRIBUTES = ".gitattributes"
KEEP = ".gitkeep"
MANIFEST_VERSION = "1.0.0"

# Under workspace/.auteur/
STATUS_DIR = "status"
OWNERS_DIR = "owners"
TRASH_DIR = "trash"
UPLOADS_DIR = "uploads"
EVENTS_DIR = "events"
LOCKS_DIR = "locks"
ACTORS_DIR = "actors"
AUDIT_LOG = "audit.log"
CONTROLLER_LOCK = "controller.lock"
HEARTBEAT = "heartbeat.json"
INTEGRITY_CURSOR = "integrity.json"  # where the media integrity pass is (controller.scrubbing)


def asset_type_of(relpath: str) -> str | None:
    """The asset type a project-relative path belongs to, if any."""
    parts = relpath.split("/")
    if len(parts) >= 2:
        folder = f"{parts[0]}/{parts[1]}"
        for name, prefix in TYPE_FOLDERS.items():
            if folder == prefix:
                return name
    return None
