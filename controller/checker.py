"""The background integrity pass's own process: it checks the projects the controller sends it.

Started by ``controller.scrubbing`` (``Checker``) as ``python -m controller.checker``, one per
pass. Hashing in the controller's own process, even in threads at the lowest priority, slowed
its creates by half: those threads take the interpreter's lock for every MiB they hash, and a
thread at idle priority that holds it while the kernel keeps it waiting for a core holds up
every other thread of the controller (a priority inversion). A process of its own shares no
lock with the controller; it lowers its CPU and disk priority to idle (``SCHED_IDLE`` and the
idle I/O class) before it reads anything, and reads at most ``--rate`` bytes a second.

The protocol is one JSON object a line: on stdin ``{"key", "root"}`` for each project to
check, in order (stdin closed: no more); on stdout, in the same order, a ``Checked`` for each.
The controller keeps a few projects ahead of the answers (``Checker.check``), so the process
can plan ahead without waiting for the next name. The process writes nothing else anywhere:
the controller records the results (it holds the lease and the project locks).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from pathlib import Path

import msgspec

from auteur.status import MediaFinding
from controller.integrity import HASHERS, Report, Throttle, check_projects, lower_priority

ONE_HASHER_RATE = 256 * 1024**2  # bytes a second: up to this, one thread hashes


class Project(msgspec.Struct):
    key: str
    root: str


class Checked(msgspec.Struct, kw_only=True):
    """One project's result: its report, or why it could not be checked."""

    key: str
    commit: str | None = None
    findings: list[MediaFinding] = []
    bytes_checked: int = 0
    error: str | None = None

    def result(self) -> Report | Exception:
        if self.error is not None:
            return CheckFailed(self.error)
        return Report(commit=self.commit, findings=list(self.findings), bytes_checked=self.bytes_checked)


class CheckFailed(Exception):
    """The checker could not check a project (no repository, unreadable objects, an OSError)."""


class CheckerDied(Exception):
    """The checker process ended before it answered every project sent to it."""


def serve(rate: int, large_file_bytes: int, pause: float) -> None:
    """The process's side: check each project named on stdin, answer on stdout."""
    lower_priority()  # SIGTERM keeps its default: the process ends at once
    decoder, encoder = msgspec.json.Decoder(Project), msgspec.json.Encoder()

    def projects() -> Iterator[Project]:
        for line in sys.stdin.buffer:
            if line.strip():
                yield decoder.decode(line)

    out = sys.stdout.buffer
    # Held to a rate one core hashes many times over, a second hasher only makes the reads come
    # in bursts on both cores at once, where a create may want one.
    hashers = 1 if 0 < rate <= ONE_HASHER_RATE else HASHERS
    throttle = Throttle(rate)
    checked = check_projects(projects(), lambda p: Path(p.root), large_file_bytes=large_file_bytes, throttle=throttle, hashers=hashers)
    for project, report in checked:
        if isinstance(report, Report):
            answer = Checked(key=project.key, commit=report.commit, findings=report.findings, bytes_checked=report.bytes_checked)
        else:
            answer = Checked(key=project.key, error=str(report))
        out.write(encoder.encode(answer) + b"\n")
        out.flush()
        if pause > 0:
            time.sleep(pause)


class Checker:
    """The controller's side: one checker process, fed a few projects ahead of its answers."""

    def __init__(self, *, rate: int, large_file_bytes: int, pause: float = 0.0, ahead: int = 10) -> None:
        args = [sys.executable, "-m", "controller.checker", "--rate", str(rate), "--large", str(large_file_bytes), "--pause", str(pause)]
        self.ahead = ahead
        self.process = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, close_fds=True)
        self._encoder, self._decoder = msgspec.json.Encoder(), msgspec.json.Decoder(Checked)
        self._lock = threading.Lock()
        self.paused_since: float | None = None

    def check(self, items: Iterable[tuple[str, Path]]) -> Iterator[tuple[str, Report | Exception]]:
        """(key, report or why not) for each (key, folder) of ``items``, in order; ``items`` is
        consumed lazily, at most ``ahead`` projects before their answer. Blocking: run it in a
        thread. Raises ``CheckerDied`` if the process ends early (killed, or ``stop``)."""
        assert self.process.stdin is not None and self.process.stdout is not None
        source, sent = iter(items), deque[str]()
        stdin, stdout = self.process.stdin, self.process.stdout
        try:
            while True:
                while len(sent) < self.ahead and (item := next(source, None)) is not None:
                    key, root = item
                    stdin.write(self._encoder.encode(Project(key=key, root=str(root))) + b"\n")
                    sent.append(key)
                if len(sent) < self.ahead:
                    stdin.close()  # nothing more to send: the process ends after its last answer
                else:
                    stdin.flush()
                if not sent:
                    self.process.wait()  # it ends once its stdin is closed and all is answered
                    return
                line = stdout.readline()
                if not line:
                    status = self.process.wait()
                    raise CheckerDied(f"the integrity checker ended (exit status {status}) with {len(sent)} project(s) unanswered")
                answer = self._decoder.decode(line)
                if answer.key != sent[0]:
                    raise CheckerDied(f"the integrity checker answered {answer.key!r} for {sent[0]!r}")
                sent.popleft()
                yield answer.key, answer.result()
        except (BrokenPipeError, ValueError) as exc:  # its stdin gone: it died
            raise CheckerDied(f"the integrity checker is gone ({exc})") from exc
        finally:
            self.stop()
            for stream in (stdin, stdout):
                try:
                    stream.close()
                except OSError:
                    pass

    def pause(self, paused: bool) -> None:
        """Hold the process where it is (``SIGSTOP``: not a read, not a cycle more) or let it go
        on (``SIGCONT``). The controller holds it while it has work of its own to do."""
        with self._lock:
            if paused == (self.paused_since is not None) or self.process.poll() is not None:
                return
            os.kill(self.process.pid, signal.SIGSTOP if paused else signal.SIGCONT)
            self.paused_since = time.monotonic() if paused else None

    def held_for(self) -> float:
        """Seconds the process has been held, 0 if it runs."""
        since = self.paused_since
        return 0.0 if since is None else time.monotonic() - since

    def stop(self) -> None:
        """End the process now, if it still runs (its reads stop at once; nothing it does needs
        finishing). A ``check`` waiting for its answer raises ``CheckerDied``."""
        with self._lock:
            if self.process.poll() is None:
                self.process.terminate()
                if self.paused_since is not None:
                    os.kill(self.process.pid, signal.SIGCONT)  # a held process takes its SIGTERM once let go
                    self.paused_since = None
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m controller.checker", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=int, default=0, help="bytes read a second at most (0: no limit)")
    parser.add_argument("--large", type=int, required=True, help="the large-file threshold, in bytes")
    parser.add_argument("--pause", type=float, default=0.0, help="seconds of rest after each project")
    args = parser.parse_args()
    try:
        serve(args.rate, args.large, args.pause)
    except (BrokenPipeError, KeyboardInterrupt):
        pass


if __name__ == "__main__":
    main()
