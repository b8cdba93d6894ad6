"""The command line: ``auteur`` / ``python -m controller`` and the make targets.

Runs the loop (``run``: the ``controller`` service's entry point, which takes its
Redis parts from ``redisbackend.backends_for``), one reconcile pass
(``reconcile``), its plan (``diff``, from ``controller.planning``), the read-only media integrity
check (``fsck``), and the project commands behind ``make project-*``. Commands that
change a project write or remove its spec and wait for the controller; when no
controller is running they do the reconcile themselves, so ``make project-create``
works on a bare checkout.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import time
from collections.abc import Callable, Sequence

import anyio
import msgspec
from prometheus_client import CollectorRegistry, start_http_server

from auteur import heartbeat, logs, mailbox
from auteur import settings as settings_mod
from auteur.events import Journal
from auteur.heartbeat import CONTROLLER_MAX_AGE
from auteur.layout import HEARTBEAT
from auteur.mailbox import RequestResult
from auteur.names import InvalidName, check_name, project_id
from auteur.settings import Settings
from auteur.specs import Quality, Spec, SpecError, read_spec
from auteur.specstore import SpecExists, create_spec, remove_spec, replace_spec, spec_files_for
from auteur.status import Phase
from controller import people, planning
from controller.converging import Outcome
from controller.integrity import Report, check_projects, describe
from controller.locking import Leadership
from controller.mailroom import purge, restore
from controller.metrics import ControllerCollector
from controller.ownership import read_owners
from controller.reconciling import Next, Reconciler
from controller.running import Controller, run_controller


def _controller_running(settings: Settings) -> bool:
    """Whether a controller leads this workspace: one holds the file lock (the embedded
    mode), or keeps the workspace's heartbeat fresh (Redis mode's controllers lead by a lease
    in Redis, possibly on another machine)."""
    probe = Leadership(settings.state)
    if not probe.try_acquire():
        return True
    probe.release()
    beat = heartbeat.read(settings.state / HEARTBEAT)
    return beat is not None and beat.is_fresh(time.time(), CONTROLLER_MAX_AGE)


class _Progress:
    """A one-line progress bar on stderr (plain lines when stderr is not a terminal)."""

    def __init__(self, total: int, label: str) -> None:
        self.total, self.label, self.shown = total, label, -1
        self.tty = sys.stderr.isatty()

    def update(self, done: int) -> None:
        if self.total < 20:
            return
        percent = done * 100 // self.total
        if percent == self.shown or (not self.tty and percent % 10 and done != self.total):
            return
        self.shown = percent
        bar = "#" * (percent // 4) + "-" * (25 - percent // 4)
        end = "\r" if self.tty and done != self.total else "\n"
        sys.stderr.write(f"{self.label} [{bar}] {done}/{self.total} ({percent}%){end}")
        sys.stderr.flush()


LEASE_LOST_EXIT = 3


def cmd_run(settings: Settings, args: argparse.Namespace) -> int:
    """The controller service: its Redis parts (if ``REDIS_URL`` says so) come from ``redisbackend``."""
    from redisbackend import backends_for  # here: the other commands never load redis or rq

    backends = backends_for(settings)
    lease = backends.lease() if backends.lease is not None else None
    controller = Controller(settings, stream=backends.stream, requeue=backends.requeue, lease=lease)
    if settings.metrics_port:  # the service's own /metrics, for Prometheus (the embedded stack's is the API's)
        registry = CollectorRegistry()
        registry.register(ControllerCollector(controller.metrics, controller.queue))
        start_http_server(settings.metrics_port, registry=registry)
    anyio.run(run_controller, controller)
    if controller.lease_lost.is_set():  # exit, so that the container is restarted as a standby
        print("controller: lost the lease to another controller; exiting", file=sys.stderr)
        return LEASE_LOST_EXIT
    return 0


def cmd_reconcile(settings: Settings, args: argparse.Namespace) -> int:
    reconciler = Reconciler(settings)
    keys = [project_id(args.name)] if args.name else sorted(reconciler.keys())
    progress = _Progress(len(keys), "reconciling")
    failed: list[tuple[str, str]] = []
    pending: dict[str, Outcome] = {}  # asked to come back later: a grace period, files settling
    for index, key in enumerate(keys, 1):
        outcome = reconciler.reconcile(key)
        if outcome.kind in (Next.RETRY, Next.STALLED):
            failed.append((key, outcome.error or "failed"))
        elif outcome.kind is Next.REQUEUE:
            pending[key] = outcome
        progress.update(index)
    deadline = time.monotonic() + args.timeout
    while args.wait and pending and time.monotonic() < deadline:  # WAIT=1: until nothing is pending
        time.sleep(max(0.05, min(o.after or 0.5 for o in pending.values())))
        for key in list(pending):
            outcome = reconciler.reconcile(key)
            if outcome.kind is Next.REQUEUE:
                pending[key] = outcome
                continue
            del pending[key]
            if outcome.kind in (Next.RETRY, Next.STALLED):
                failed.append((key, outcome.error or "failed"))
    if isinstance(reconciler.journal, Journal):
        reconciler.journal.close()
    ok = len(keys) - len(failed) - len(pending)
    waiting = f", {len(pending)} pending" if pending else ""
    print(f"Reconciled {len(keys)} project(s): {ok} ok{waiting}, {len(failed)} failed")
    for key, outcome in pending.items():
        print(f"  {key}: {_pending_reason(reconciler, key, outcome)} — run again, or WAIT=1")
    for key, why in failed:
        print(f"  {key}: {why}")
    return 1 if failed else 0


def cmd_diff(settings: Settings, args: argparse.Namespace) -> int:
    """What a reconcile would do, changing nothing: exits 0 (nothing to do), 2 (changes pending) or 1 (an error)."""
    try:
        plans = planning.plan(settings, [project_id(args.name)] if args.name else None)
    except planning.PlanError as exc:
        print(f"auteur diff: {exc}", file=sys.stderr)
        return planning.FAILED
    print("\n".join(planning.render(plans)))
    return planning.exit_code(plans)


def _pending_reason(reconciler: Reconciler, key: str, outcome: Outcome) -> str:
    status = reconciler.status_of(key)
    after = outcome.after or 0.0
    if status is not None and status.status is Phase.DELETING:
        return f"spec removed; moves to the trash in {after:.0f} s"
    return f"files still settling; committed in {after:.1f} s"


def cmd_list(settings: Settings, args: argparse.Namespace) -> int:
    reconciler = Reconciler(settings)
    rows = []
    for status in sorted(reconciler.statuses.read_all(), key=lambda s: s.name.lower()):
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(status.last_reconcile)) if status.last_reconcile else "-"
        shown = status.status.value + (" (unmanaged)" if status.status is Phase.UNMANAGED else "")
        if status.status is Phase.UNMANAGED:
            shown = "UNMANAGED"
        rows.append((status.name, status.id, status.quality or "-", shown, (status.current_commit or "-")[:8], when))
        for dup in status.duplicates:
            rows.append((dup.file, status.id, "-", "failed", "-", dup.message[:40]))
    known = {s.id for s in reconciler.statuses.read_all()}
    for key in reconciler.specs.ids():
        if key not in known:
            name = reconciler.specs.files_for(key)[0]
            rows.append((name, key, "-", "processing", "-", "-"))
    header = ("NAME", "ID", "QUALITY", "STATUS", "COMMIT", "LAST RECONCILE")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    if not rows:
        print("(no projects)")
    return 0


def _wait_for(settings: Settings, key: str, done: Callable[[Reconciler], bool], timeout: float) -> bool:
    reconciler = Reconciler(settings)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reconciler.recorder.forget_cached()
        if done(reconciler):
            return True
        time.sleep(0.05)
    return False


def cmd_create(settings: Settings, args: argparse.Namespace) -> int:
    try:
        name = check_name(args.name)
        spec = Spec(name=name, quality=Quality(args.quality), description=args.description or "")
        path = create_spec(settings.specs, settings.state, spec)
    except (InvalidName, ValueError) as exc:
        print(f"Invalid project: {exc}", file=sys.stderr)
        return 2
    except SpecExists as exc:
        print(f"Project exists: {exc}", file=sys.stderr)
        return 1
    key = spec.id
    if not _controller_running(settings):
        Reconciler(settings).reconcile(key)
    ok = _wait_for(settings, key, lambda r: (s := r.status_of(key)) is not None and s.status in (Phase.READY, Phase.FAILED), args.timeout)
    status = Reconciler(settings).status_of(key)
    if ok and status and status.status is Phase.READY:
        where = settings.workspace / (status.folder or name)
        print(f"Project created: {status.name} (id {key}) at {where} [{(status.current_commit or '')[:8]}]")
        return 0
    why = status.last_error if status else "controller did not report in time"
    print(f"Project spec written to {path}, but it is not ready: {why}", file=sys.stderr)
    return 1


def _set_suspend(settings: Settings, args: argparse.Namespace, suspend: bool) -> int:
    """Edit the project's spec to ``suspend: true`` (or drop it), then wait for the controller's word."""
    key = project_id(args.name)
    files = spec_files_for(settings.specs, key)
    if not files:
        print(f"No spec for {args.name!r} in {settings.specs}", file=sys.stderr)
        return 1
    known = Reconciler(settings).status_of(key)
    path = settings.specs / (known.spec_file if known and known.spec_file in files else files[0])
    try:
        spec = read_spec(path)
    except SpecError as exc:
        print(f"The spec file cannot be used, fix it first: {exc}", file=sys.stderr)
        return 2
    if spec.suspend != suspend:
        replace_spec(path, msgspec.structs.replace(spec, suspend=suspend))
    if not _controller_running(settings):
        Reconciler(settings).reconcile(key)
    wanted = (Phase.SUSPENDED,) if suspend else (Phase.READY, Phase.FAILED)
    ok = _wait_for(settings, key, lambda r: (s := r.status_of(key)) is not None and s.status in wanted, args.timeout)
    status = Reconciler(settings).status_of(key)
    if not ok or status is None:
        print(f"{path.name} says suspend: {str(suspend).lower()}; the controller has not reported it yet", file=sys.stderr)
        return 1
    if suspend:
        print(f"Project suspended: {status.name} (the controller leaves {status.folder or status.name} alone until resumed)")
    elif status.status is Phase.READY:
        print(f"Project resumed: {status.name} [{(status.current_commit or '')[:8]}]")
    else:
        print(f"Project resumed, but it is not ready: {status.last_error}", file=sys.stderr)
        return 1
    return 0


def cmd_suspend(settings: Settings, args: argparse.Namespace) -> int:
    return _set_suspend(settings, args, True)


def cmd_resume(settings: Settings, args: argparse.Namespace) -> int:
    return _set_suspend(settings, args, False)


def cmd_delete(settings: Settings, args: argparse.Namespace) -> int:
    key = project_id(args.name)
    removed = remove_spec(settings.specs, key)
    reconciler = Reconciler(settings)
    owner = reconciler.owners.get(key)
    if not removed and owner is None:
        print(f"No project named {args.name!r}", file=sys.stderr)
        return 1
    if not _controller_running(settings):
        deadline = time.monotonic() + args.timeout + settings.grace_seconds
        while reconciler.reconcile(key).kind is Next.REQUEUE and time.monotonic() < deadline:
            time.sleep(0.1)
    gone = _wait_for(settings, key, lambda r: r.owners.get(key) is None, args.timeout + settings.grace_seconds)
    if not gone:
        print("Spec removed; the controller has not moved the folder yet", file=sys.stderr)
        return 1
    print(f"Project deleted: {args.name} (moved to the trash; restore with `make project-restore NAME={args.name}`)")
    return 0


def _via_controller(settings: Settings, action: str, ref: str, timeout: float) -> RequestResult:
    """Restore and purge are the controller's work: ask the running one, or do it here."""
    reconciler = Reconciler(settings)
    if not _controller_running(settings):
        result = restore(reconciler, ref) if action == "restore" else purge(reconciler, ref)
        return result
    request = mailbox.submit(settings.state, action, ref)
    answer = mailbox.wait_result(settings.state, request.id, timeout)
    return answer or RequestResult(id=request.id, ok=False, message="the controller did not answer in time")


def cmd_restore(settings: Settings, args: argparse.Namespace) -> int:
    return _trash_command(settings, args, "restore", "Project restored: {name} (id {id})")


def cmd_purge(settings: Settings, args: argparse.Namespace) -> int:
    return _trash_command(settings, args, "purge", "Purged {name} from the trash")


def _trash_command(settings: Settings, args: argparse.Namespace, action: str, done: str) -> int:
    result = _via_controller(settings, action, args.name, args.timeout)
    if not result.ok:
        print(result.message, file=sys.stderr)
        return 1
    print(done.format(name=args.name, id=result.project_id))
    return 0


def cmd_trash(settings: Settings, args: argparse.Namespace) -> int:
    for entry in Reconciler(settings).trash.entries():
        print(f"{entry.entry}  {entry.name}  deleted {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(entry.deleted_at))}")
    return 0


def cmd_fsck(settings: Settings, args: argparse.Namespace) -> int:
    """Check the media of every project (or NAME) and print each finding; writes nothing.
    Exit 0 when clean, 1 with findings, 2 when a project could not be checked."""
    owners = read_owners(settings.state)
    if args.name:
        owners = [o for o in owners if o.id == project_id(args.name)]
        if not owners:
            print(f"No project named {args.name!r}", file=sys.stderr)
            return 2
    found = failed = checked_bytes = 0
    checked = check_projects(owners, lambda owner: settings.workspace / owner.folder, large_file_bytes=settings.large_file_bytes)
    for owner, report in checked:
        if not isinstance(report, Report):
            print(f"{owner.folder}: not checked: {report}", file=sys.stderr)
            failed += 1
            continue
        for finding in report.findings:
            print(f"{owner.folder}: {describe(finding)}")
        found += bool(report.findings)
        checked_bytes += report.bytes_checked
    problems = f"{found} with findings" if found else "clean"
    print(f"fsck: {len(owners)} project(s) checked, {problems}, {failed} not checked; {checked_bytes} bytes read")
    return 2 if failed else 1 if found else 0


def cmd_health(settings: Settings, args: argparse.Namespace) -> int:
    """Exit 0 while some controller keeps the workspace's heartbeat fresh (the compose health check)."""
    beat = heartbeat.read(settings.state / HEARTBEAT)
    if beat is None:
        print("controller: no heartbeat", file=sys.stderr)
        return 1
    now = time.time()
    if not beat.is_fresh(now, args.max_age):
        print(f"controller: heartbeat is {beat.age(now):.0f}s old", file=sys.stderr)
        return 1
    print(f"controller: running (pid {beat.pid}, heartbeat {beat.age(now):.1f}s ago, queue {beat.queue})")
    return 0


def cmd_init(settings: Settings, args: argparse.Namespace) -> int:
    Reconciler(settings)
    readme = settings.specs / "README.md"
    if not readme.exists():
        source = os.path.join(os.path.dirname(__file__), "..", "specs", "README.md")
        if os.path.exists(source) and os.path.abspath(source) != str(readme.absolute()):
            shutil.copyfile(source, readme)
    print(f"Workspace initialized: {settings.workspace} (specs in {settings.specs})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="auteur", description="Auteur workspace controller")
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("run", help="run the control loop (default)")
    p = sub.add_parser("reconcile", help="one reconcile pass over every project, or NAME")
    p.add_argument("name", nargs="?")
    p.add_argument("--wait", action="store_true", help="reconcile again until nothing is pending (grace periods, settling files)")
    p.add_argument("--timeout", type=float, default=600.0, help="with --wait: give up after this many seconds")
    p = sub.add_parser("diff", help="print what a reconcile would do, changing nothing (exit 0: nothing to do, 2: changes, 1: error)")
    p.add_argument("name", nargs="?")
    sub.add_parser("list", help="table of projects")
    p = sub.add_parser("create", help="create a project and wait until it is ready")
    p.add_argument("name")
    p.add_argument("--quality", default="standard", choices=[q.value for q in Quality])
    p.add_argument("--description", default="")
    p.add_argument("--timeout", type=float, default=60.0)
    for verb, text in (
        ("suspend", "leave a project alone (suspend: true in its spec) until resumed"),
        ("resume", "converge a suspended project again"),
        ("delete", "move a project to the trash"),
        ("restore", "restore from the trash"),
        ("purge", "purge from the trash"),
    ):
        p = sub.add_parser(verb, help=text)
        p.add_argument("name")
        p.add_argument("--timeout", type=float, default=60.0)
    sub.add_parser("trash", help="list the trash")
    p = sub.add_parser("fsck", help="check the media of every project, or NAME (exit 0 clean, 1 findings, 2 error)")
    p.add_argument("name", nargs="?")
    sub.add_parser("init", help="create the workspace and specs folders")
    p = sub.add_parser("health", help="exit 0 while a controller's heartbeat is fresh")
    p.add_argument("--max-age", type=float, default=CONTROLLER_MAX_AGE)
    people.add_parsers(sub)
    return parser


COMMANDS = {
    "run": cmd_run,
    "reconcile": cmd_reconcile,
    "diff": cmd_diff,
    "list": cmd_list,
    "create": cmd_create,
    "suspend": cmd_suspend,
    "resume": cmd_resume,
    "delete": cmd_delete,
    "restore": cmd_restore,
    "purge": cmd_purge,
    "trash": cmd_trash,
    "fsck": cmd_fsck,
    "health": cmd_health,
    "init": cmd_init,
    "user": people.cmd_user,
    "token": people.cmd_token,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = settings_mod.from_env()
    except settings_mod.SettingsError as exc:
        print(f"auteur: {exc}", file=sys.stderr)
        return 2
    logs.configure(settings.log_format, logging.DEBUG if args.verbose else logging.INFO)
    return COMMANDS[args.command or "run"](settings, args)
