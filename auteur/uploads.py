"""Upload records and staging folders under ``workspace/.auteur/uploads/``.

Shared by the API, which streams each uploaded file into a staging folder and
writes its record once the bytes are safe (``api.uploads``), and the worker,
which moves the file into the project and commits it (``worker.ingesting``).
A record is ``<upload_id>.json``, replaced atomically at each step; the staged
bytes live in ``<upload_id>/content`` until the ingest moves them into place, and,
for a file bound for Git LFS on a volume without reflinks, their copy in
``<upload_id>/object`` until the ingest renames it into the project's LFS store.

    uploading -> stored -> processing -> completed
                                      \\-> failed

``uploading`` is never written: a file still arriving has a staging folder and no
record, so a crash mid-upload leaves a folder that ``orphans`` finds and removes.
"""

from __future__ import annotations

import enum
import fcntl
import functools
import os
import secrets
import shutil
import tempfile
import time
import unicodedata
from pathlib import Path

import msgspec

from auteur.atomic import fsync_dir, write_atomic
from auteur.identity import Actor
from auteur.layout import UPLOADS_DIR

CONTENT = "content"
LFS_COPY = "object"


class UploadState(str, enum.Enum):
    UPLOADING = "uploading"
    STORED = "stored"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"


FINISHED = frozenset({UploadState.COMPLETED, UploadState.FAILED})


class UploadRecord(msgspec.Struct, kw_only=True):
    """One uploaded file and how far its ingest got. New fields need defaults."""

    upload_id: str
    project_id: str
    asset_type: str
    filename: str
    # Project-relative destination, e.g. ``assets/audio/take 1.wav``.
    path: str
    size: int
    # sha256 of the content, computed while the bytes arrived: the LFS oid.
    oid: str
    status: UploadState = UploadState.STORED
    error: str | None = None
    job_id: str | None = None
    attempts: int = 0
    commit: str | None = None
    # Identity of the staged file (a rename keeps both): lets the ingest recognise
    # its own file in place after a crash without hashing it again.
    staged_ino: int = 0
    staged_mtime_ns: int = 0
    created_at: float = 0.0
    updated_at: float = 0.0
    # Who uploaded it: the ingest commits as them and its events name them (None: nobody known).
    actor: Actor | None = None


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(UploadRecord)


def new_upload_id(clock: float | None = None) -> str:
    """A unique id that sorts by creation time: ``<ms, hex>-<random>``."""
    ms = int((time.time() if clock is None else clock) * 1000)
    return f"{ms:011x}-{secrets.token_hex(6)}"


def is_upload_id(value: str) -> bool:
    """True for ids ``new_upload_id`` makes (so an id never names a path elsewhere)."""
    head, dash, tail = value.partition("-")
    hexdigits = "0123456789abcdef"
    return bool(dash) and len(head) == 11 and len(tail) == 12 and all(c in hexdigits for c in head + tail)


MAX_FILENAME_BYTES = 200
# Control, format (bidi overrides), surrogate, private-use, unassigned and line/paragraph separators.
_UNPRINTABLE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def filename_problem(name: str | None) -> str | None:
    """Why ``name`` cannot be an uploaded file's name, or None if it can be used as is.

    Any printable name is kept exactly as sent (``shot_010 (v2).mov``); what could
    escape the folder, hide the file or break a terminal is refused.
    """
    if not name:
        return "a filename is required"
    if "/" in name or "\\" in name:
        return f"filename {name!r} contains a path separator"
    for char in name:
        if unicodedata.category(char) in _UNPRINTABLE:
            return f"filename {name!r} contains a control character (U+{ord(char):04X})"
    if name.startswith("."):
        return f"filename {name!r} starts with a dot (hidden files and '.'/'..' are refused)"
    if len(name.encode("utf-8", "surrogatepass")) > MAX_FILENAME_BYTES:
        return f"filename {name!r} is longer than {MAX_FILENAME_BYTES} bytes in UTF-8"
    return None


_FICLONE = 0x40049409  # linux/fs.h: _IOW(0x94, 9, int)


@functools.cache
def shares_blocks(folder: Path) -> bool:
    """True if files in ``folder`` can share blocks (reflinks: XFS, btrfs), so a copy of a
    staged file costs nothing; False on ext4 and the like. Probed once per folder."""
    with tempfile.TemporaryFile(dir=folder) as source, tempfile.TemporaryFile(dir=folder) as clone:
        source.write(b"probe")
        source.flush()
        try:
            fcntl.ioctl(clone.fileno(), _FICLONE, source.fileno())
        except OSError:
            return False
        return True


class UploadStore:
    """Records and staging folders; safe to use from several processes at once."""

    def __init__(self, state_dir: Path) -> None:
        self.root = state_dir / UPLOADS_DIR
        self.root.mkdir(parents=True, exist_ok=True)

    def staging_dir(self, upload_id: str) -> Path:
        return self.root / upload_id

    def staged_file(self, upload_id: str) -> Path:
        return self.root / upload_id / CONTENT

    def staged_lfs_copy(self, upload_id: str) -> Path:
        return self.root / upload_id / LFS_COPY

    def record_path(self, upload_id: str) -> Path:
        return self.root / f"{upload_id}.json"

    def create_staging(self, upload_id: str) -> Path:
        """Make the staging folder (it must not exist) and return the content path."""
        os.mkdir(self.staging_dir(upload_id), 0o755)
        return self.staged_file(upload_id)

    def discard_staging(self, upload_id: str) -> None:
        """Remove the staging folder and whatever is in it."""
        shutil.rmtree(self.staging_dir(upload_id), ignore_errors=True)

    def read(self, upload_id: str) -> UploadRecord | None:
        try:
            return _decoder.decode(self.record_path(upload_id).read_bytes())
        except (FileNotFoundError, msgspec.DecodeError, msgspec.ValidationError):
            return None

    def write(self, record: UploadRecord, *, now: float | None = None) -> None:
        """Replace the record atomically and durably (it promises the bytes are safe)."""
        record.updated_at = time.time() if now is None else now
        if not record.created_at:
            record.created_at = record.updated_at
        write_atomic(self.record_path(record.upload_id), _encoder.encode(record))
        fsync_dir(self.root)

    def ids(self) -> list[str]:
        return sorted(n[:-5] for n in os.listdir(self.root) if n.endswith(".json") and not n.startswith("."))

    def unfinished(self) -> list[UploadRecord]:
        """Records whose ingest has not reached ``completed`` or ``failed``."""
        found = []
        for upload_id in self.ids():
            record = self.read(upload_id)
            if record is not None and record.status not in FINISHED:
                found.append(record)
        return found

    def orphans(self, older_than: float, now: float | None = None) -> list[str]:
        """Staging folders with no record whose bytes stopped arriving ``older_than``
        seconds ago: uploads cut off by a crash or a dropped connection."""
        now = time.time() if now is None else now
        found = []
        for entry in os.scandir(self.root):
            if not entry.is_dir(follow_symlinks=False) or os.path.exists(self.record_path(entry.name)):
                continue
            try:
                newest = max([entry.stat().st_mtime, *(e.stat().st_mtime for e in os.scandir(entry.path))])
            except FileNotFoundError:
                continue
            if now - newest > older_than:
                found.append(entry.name)
        return sorted(found)
