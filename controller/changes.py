"""``Change``: one thing a convergence step would do, said in words and ready to be done.

Made by the steps in ``controller.steps`` (with ``controller.gitinit`` for the
repository) and by the removal path in ``controller.converging``: a step works out
its changes first, then carries them out — unless the attempt is a dry run
(``auteur diff``, through ``controller.planning``), which only lists them. One
decision serves both, so the plan and the reconcile cannot drift apart.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass


def nothing() -> None:
    """The ``apply`` of a change that is only announced (a trash move still in its grace period)."""


@dataclass(frozen=True)
class Change:
    """What a step would do (``summary``) and how (``apply``). A file the step writes
    names its project-relative ``path`` and ``content``, so a dry run's snapshot can
    commit what would be there; ``diff`` is the edit as unified diff lines."""

    summary: str
    apply: Callable[[], object]
    path: str | None = None
    content: bytes | None = None
    diff: tuple[str, ...] = ()


# A plan shows a small diff: a longer one is cut, saying how much was left out.
MAX_DIFF_LINES = 30


def file_diff(rel: str, before: bytes | None, after: bytes) -> tuple[str, ...]:
    """A small unified diff of an edit to a text file the controller writes; a new file
    is only counted (its whole text is the template's, not news)."""
    new = after.decode("utf-8", "replace").splitlines()
    if before is None:
        return (f"(new file, {len(new)} lines)",)
    lines = list(difflib.unified_diff(before.decode("utf-8", "replace").splitlines(), new, f"a/{rel}", f"b/{rel}", n=1, lineterm=""))
    if len(lines) > MAX_DIFF_LINES:
        lines[MAX_DIFF_LINES:] = [f"... ({len(lines) - MAX_DIFF_LINES} more lines)"]
    return tuple(lines)
