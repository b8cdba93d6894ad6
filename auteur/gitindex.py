"""Is a file as it was committed? Answered from the stat data in ``.git/index``, never by hashing.

The one rule, used by the controller's snapshot (``controller.repository``: a file
whose stat matches its index entry is not read again) and by the API's assets
listing (``api.assets``: the ``committed`` flag). The controller writes each entry
from the stat of the bytes it hashed, so a match means those very bytes.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from dulwich.index import Index, IndexEntry


def same_stat(entry: IndexEntry, st: os.stat_result) -> bool:
    """Whether ``st`` (an ``lstat`` of the file) is what ``entry`` recorded: no stage or
    special flag, and the same size, mtime, ctime, inode and executable bit."""
    return (
        entry.flags == entry.extended_flags == 0  # no stage, intent-to-add or skip-worktree
        and entry.size == st.st_size & 0xFFFFFFFF  # the index keeps 32 bits, as git does
        and entry.mtime == divmod(st.st_mtime_ns, 1_000_000_000)
        and entry.ctime == divmod(st.st_ctime_ns, 1_000_000_000)
        and entry.ino == st.st_ino & 0xFFFFFFFF
        and entry.mode == (0o100755 if st.st_mode & stat.S_IXUSR else 0o100644)
    )


def recorded_entries(git_index: Path) -> dict[str, IndexEntry]:
    """path -> entry of every file the controller recorded; {} if the index is missing
    or unreadable (torn by a crash): then nothing counts as committed."""
    try:
        entries = Index(git_index).items()
    except Exception:
        return {}
    return {os.fsdecode(key): entry for key, entry in entries if isinstance(entry, IndexEntry)}
