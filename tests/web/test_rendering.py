"""What a failed project's card and page say failed, and what happens next (``web.rendering``)."""

from __future__ import annotations

import pytest

from web.rendering import failure_message, failure_title


def condition(kind: str, reason: str, message: str = "it broke") -> dict:
    return {"type": kind, "status": False, "reason": reason, "message": message}


@pytest.mark.parametrize(
    ("project", "title", "message"),
    [
        ({"last_error": "a.yaml: field 'quality': bad",
          "conditions": [condition("SpecFailed", "InvalidSpec"), condition("Ready", "SpecFailed")]},
         "Spec failed; stalled until fixed", "a.yaml: field 'quality': bad"),
        ({"conditions": [condition("SnapshotFailed", "StepError", "OSError: disk"),
                         condition("Ready", "SnapshotFailed", "OSError: disk")]},
         "Snapshot failed; retrying", "OSError: disk"),
        ({"conditions": [condition("OwnershipFailed", "ForeignFolder"), condition("Ready", "OwnershipFailed")]},
         "Ownership failed; stalled until fixed", "it broke"),
        ({"conditions": []}, "Failed", "failed"),
        ({"conditions": [condition("Ready", "Weird")]}, "Failed", "it broke"),
    ],
)  # fmt: skip
def test_the_failure_names_the_step_whether_it_retries_and_the_message(project, title, message):
    assert failure_title(project) == title
    assert failure_message(project) == message
