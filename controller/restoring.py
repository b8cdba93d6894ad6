"""Requests only the controller carries out: restoring and purging trash entries.

Called by the controller's workers (``controller.workers``: the ``@requests`` key,
when a request file lands in ``workspace/.auteur/requests/``) and by the CLI when no
controller runs. Each function takes the ``Reconciler`` whose stores and locks it uses.
"""

from __future__ import annotations

import logging
import os

from auteur import requests
from auteur.requests import RequestResult
from auteur.specs import Quality, Spec
from auteur.specstore import SpecExists, create_spec
from controller.locking import project_lock
from controller.ownership import Owner
from controller.reconciling import Reconciler
from controller.trash import TrashError

log = logging.getLogger("auteur.controller")

REQUESTS_KEY = "@requests"


def handle_requests(self: Reconciler) -> int:
    """Carry out every pending restore/purge request; returns how many."""
    handled = 0
    for request in requests.pending(self.state):
        try:
            if request.action == "restore":
                result = restore(self, request.entry)
            elif request.action == "purge":
                result = purge(self, request.entry)
            else:
                result = RequestResult(id="", ok=False, message=f"unknown action {request.action!r}")
        except Exception as exc:  # report, never crash the loop on one request
            log.exception("request %s failed", request.id)
            result = RequestResult(id="", ok=False, message=f"{type(exc).__name__}: {exc}")
        result.id = request.id
        requests.finish(self.state, result)
        handled += 1
    return handled


def restore(self: Reconciler, ref: str) -> RequestResult:
    """Move a trash entry back into the workspace and give it its spec again."""
    try:
        entry = self.trash.find(ref)
    except TrashError as exc:
        return RequestResult(id="", ok=False, message=str(exc))
    target = self.settings.workspace / entry.folder
    with project_lock(self.state, entry.id):
        if self.specs.files_for(entry.id) or target.exists() or target.is_symlink():
            return RequestResult(
                id="", ok=False, project_id=entry.id,
                message=f"cannot restore: a project named {entry.name!r} exists again; delete or rename it first",
            )  # fmt: skip
        spec = Spec(name=entry.name, quality=Quality(entry.quality), description=entry.description)
        self.owners.put(Owner(id=entry.id, folder=entry.folder, spec_file=f"{entry.name}.yaml", created_at=entry.created_at or ""))
        os.rename(self.trash.path(entry), target)
        self.trash.forget(entry)
        try:
            create_spec(self.settings.specs, self.state, spec)
        except SpecExists:
            pass  # the same spec raced in; the reconcile below sorts it out
        self.specs.refresh(force=True)
        self.reconcile_locked(entry.id)
    log.info("%s: restored from the trash (%s)", entry.id, entry.entry)
    return RequestResult(id="", ok=True, project_id=entry.id, message=f"restored {entry.name}")


def purge(self: Reconciler, ref: str) -> RequestResult:
    try:
        entry = self.trash.find(ref)
    except TrashError as exc:
        return RequestResult(id="", ok=False, message=str(exc))
    self.trash.purge(entry)
    log.info("%s: purged from the trash (%s)", entry.id, entry.entry)
    return RequestResult(id="", ok=True, project_id=entry.id, message=f"purged {entry.name}")
