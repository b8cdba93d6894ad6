"""The controller's side of ``auteur.mailbox``: restoring and purging trash entries, and
workers' announcements (journal the event, reconcile the project first if asked).

Called by the controller's workers (``controller.workers``: the ``@requests`` key,
when a request file lands in ``workspace/.auteur/requests/``) and by the CLI when no
controller runs. Each function takes the ``Reconciler`` whose stores and locks it uses.
"""

from __future__ import annotations

import logging
import os

from auteur import mailbox
from auteur.identity import Actor
from auteur.leases import LeaseLost
from auteur.mailbox import Request, RequestResult
from auteur.specs import Quality, Spec
from auteur.specstore import SpecExists, create_spec
from controller.locking import project_lock
from controller.ownership import Owner
from controller.reconciling import Reconciler
from controller.trash import TrashError

log = logging.getLogger("auteur.controller")

REQUESTS_KEY = "@requests"


def handle_requests(self: Reconciler) -> int:
    """Carry out every pending request, oldest first; returns how many."""
    handled = 0
    for request in mailbox.pending(self.state):
        self.fence()  # a restore or a purge moves folders; a lost lease leaves the request for the next leader
        if request.action == "announce":
            announce(self, request)
            handled += 1
            continue
        try:
            if request.action == "restore":
                result = restore(self, request.entry, request.actor)
            elif request.action == "purge":
                result = purge(self, request.entry, request.actor)
            else:
                result = RequestResult(id="", ok=False, message=f"unknown action {request.action!r}")
        except LeaseLost:
            raise
        except Exception as exc:  # report, never crash the loop on one request
            log.exception("request %s failed", request.id)
            result = RequestResult(id="", ok=False, message=f"{type(exc).__name__}: {exc}")
        result.id = request.id
        mailbox.finish(self.state, result)
        handled += 1
    return handled


def announce(self: Reconciler, request: Request) -> None:
    """A worker changed ``request.project_id``: look at it again (so its status shows the
    change before the event is out), then journal the worker's event, both on behalf of
    the person the worker acted for."""
    actor = request.actor
    try:
        if request.reconcile:
            self.reconcile(request.project_id, actor=actor)
    except Exception:  # the event still goes out; the work queue retries the project
        log.exception("%s: reconcile after %s failed", request.project_id, request.event)
    self.recorder.announce(request.event, request.project_id, request.data, actor.name if actor is not None else None)
    mailbox.discard(self.state, request.id)


def restore(self: Reconciler, ref: str, actor: Actor | None = None) -> RequestResult:
    """Move a trash entry back into the workspace and give it its spec again, on ``actor``'s
    behalf (the reconcile that follows commits as them and its events name them)."""
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
        self.reconcile_locked(entry.id, actor=actor)
    log.info("%s: restored from the trash (%s)%s", entry.id, entry.entry, _by(actor))
    return RequestResult(id="", ok=True, project_id=entry.id, message=f"restored {entry.name}")


def purge(self: Reconciler, ref: str, actor: Actor | None = None) -> RequestResult:
    try:
        entry = self.trash.find(ref)
    except TrashError as exc:
        return RequestResult(id="", ok=False, message=str(exc))
    self.trash.purge(entry)
    log.info("%s: purged from the trash (%s)%s", entry.id, entry.entry, _by(actor))
    return RequestResult(id="", ok=True, project_id=entry.id, message=f"purged {entry.name}")


def _by(actor: Actor | None) -> str:
    return f" by {actor.name}" if actor is not None else ""
