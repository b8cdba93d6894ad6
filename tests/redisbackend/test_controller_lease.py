"""Two ``auteur run`` processes in Redis mode: one leads by the Redis lease, the other stands
by; a killed leader is replaced once its lease expires; a paused leader that resumes after
losing the lease writes nothing (the fence), and exits so that it is restarted as a standby."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import assert_clean_repository, git, wait_for

from auteur.status import Phase, StatusStore
from controller.cli import LEASE_LOST_EXIT

ROOT = Path(__file__).resolve().parents[2]
TIMINGS = {"AUTEUR_LEASE_SECONDS": "3", "AUTEUR_LEASE_RENEW_DEADLINE_SECONDS": "2", "AUTEUR_LEASE_RETRY_SECONDS": "0.5"}


class Controllers:
    def __init__(self, tmp_path: Path, redis_url: str) -> None:
        self.tmp = tmp_path
        self.specs, self.workspace = tmp_path / "specs", tmp_path / "workspace"
        self.specs.mkdir()
        self.env = dict(os.environ, AUTEUR_SPECS=str(self.specs), AUTEUR_WORKSPACE=str(self.workspace), REDIS_URL=redis_url,
                        PYTHONPATH=str(ROOT), AUTEUR_RESYNC_SECONDS="3600", AUTEUR_SETTLE_SECONDS="0.2", **TIMINGS)  # fmt: skip
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, **extra: str) -> subprocess.Popen[bytes]:
        with open(self.log(name), "ab") as handle:  # a file: a pipe nobody reads would block the process
            proc = subprocess.Popen([sys.executable, "-m", "controller", "-v", "run"], cwd=ROOT, env={**self.env, **extra},
                                    stdout=handle, stderr=subprocess.STDOUT)  # fmt: skip
        self.procs[name] = proc
        return proc

    def log(self, name: str) -> Path:
        return self.tmp / f"{name}.log"

    def said(self, name: str, text: str) -> bool:
        return text in self.log(name).read_text(errors="replace")

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGCONT)
                proc.kill()
                proc.wait(30)

    def status(self, key: str):
        return StatusStore(self.workspace / ".auteur").read(key)


@pytest.fixture
def controllers(tmp_path, redis_server):
    group = Controllers(tmp_path, redis_server.url)
    yield group
    group.stop_all()


def test_a_killed_leader_is_replaced_once_its_lease_expires(controllers):
    a = controllers.start("a")
    wait_for(lambda: controllers.said("a", "controller lease taken"), what="a leads")
    controllers.start("b")
    wait_for(lambda: controllers.said("b", "standby: the lease is not free"), what="b stands by")
    (controllers.specs / "before.yaml").write_text("name: before\n")
    wait_for(lambda: (s := controllers.status("before")) and s.status is Phase.READY, what="a converges")
    assert not controllers.said("b", "controller lease taken")
    a.send_signal(signal.SIGKILL)
    killed = time.monotonic()
    a.wait(30)
    (controllers.specs / "during.yaml").write_text("name: during\n")  # written while nobody leads
    wait_for(lambda: controllers.said("b", "controller lease taken"), timeout=30, interval=0.05, what="b takes over")
    took = time.monotonic() - killed
    assert took <= float(TIMINGS["AUTEUR_LEASE_SECONDS"]) + 1.5, f"took over after {took:.1f} s"
    wait_for(lambda: (s := controllers.status("during")) and s.status is Phase.READY, what="the project made in the gap")
    assert_clean_repository(controllers.workspace / "during")


def test_a_paused_leader_that_lost_its_lease_writes_nothing(controllers):
    hold = controllers.tmp / "hold"
    a = controllers.start("a", AUTEUR_FAULT_HOLD=f"snapshot.before_commit={hold}", AUTEUR_GIT_AUTHOR="Leader A <a@example.com>")
    wait_for(lambda: controllers.said("a", "controller lease taken"), what="a leads")
    b = controllers.start("b", AUTEUR_GIT_AUTHOR="Standby B <b@example.com>")
    wait_for(lambda: controllers.said("b", "standby: the lease is not free"), what="b stands by")
    hold.touch()
    (controllers.specs / "held.yaml").write_text("name: held\n")
    wait_for(lambda: controllers.said("a", "held at snapshot.before_commit"), what="a is about to commit")
    a.send_signal(signal.SIGSTOP)  # paused with its project lock held, as a process stuck on a slow disk
    wait_for(lambda: controllers.said("b", "controller lease taken"), timeout=30, what="b takes over from the paused a")
    hold.unlink()
    a.send_signal(signal.SIGCONT)  # a resumes right where it stopped: before its commit
    assert a.wait(30) == LEASE_LOST_EXIT, controllers.log("a").read_text()[-3000:]
    wait_for(lambda: (s := controllers.status("held")) and s.status is Phase.READY, what="b converges the project")
    root = controllers.workspace / "held"
    assert git(root, "log", "--format=%cn|%an|%s").splitlines() == ["Standby B|Standby B|Create project held"]
    assert_clean_repository(root)
    log_a = controllers.log("a").read_text(errors="replace")
    assert "controller lease lost" in log_a or "not written" in log_a, log_a[-3000:]
    assert b.poll() is None
