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


def file_diff(rel: str, before: bytes | None, after: bytes) -> tuple[str, ...]:
    """A small unified diff of a text file the controller writes (``/dev/null`` when new)."""
    old = [] if before is None else before.decode("utf-8", "replace").splitlines()
    new = after.decode("utf-8", "replace").splitlines()
    source = "/dev/null" if before is None else f"a/{rel}"
    return tuple(difflib.unified_diff(old, new, source, f"b/{rel}", n=1, lineterm=""))
