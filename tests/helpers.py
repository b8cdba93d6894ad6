"""Shared helpers for the controller tests."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import threading
from pathlib import Path

# Chromium for every browser test, on the host and in the e2e container. Background services
# stay off: these machines have no network but loopback, and Chromium's on-device model
# service once started mid-run and left a context close hanging.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic", "--disable-extensions", "--disable-dev-shm-usage",
    "--no-default-browser-check", "--disable-field-trial-config",
    "--disable-features=OptimizationGuideModelDownloading,OptimizationHintsFetching,OptimizationGuideOnDeviceModel,"
    "OnDeviceModelService,AIPromptAPI,AISummarizationAPI,Translate,MediaRouter,AutofillServerCommunication",
]  # fmt: skip


CHROMIUM = "/usr/bin/chromium"


@contextlib.contextmanager
def chromium(playwright):
    """Debian's Chromium, launched for one test: a long-lived browser once started a
    background service that hung its next close. A watchdog kills it if closing still
    hangs, so a stuck browser can never stall the suite; the test itself has already
    passed or failed by then."""
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    try:
        yield browser
    finally:
        watchdog = threading.Timer(20.0, _kill_chromium_of, args=(os.getpid(),))
        watchdog.start()
        try:
            browser.close()
        except Exception as exc:  # killed by the watchdog
            print(f"browser close failed ({exc}); killed it")
        finally:
            watchdog.cancel()


def _kill_chromium_of(pid: int) -> None:
    """Kill the Chromium processes started under ``pid`` (a hung browser)."""
    import psutil

    for proc in psutil.Process(pid).children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if "chromium" in proc.name() or "chrome" in proc.name():
                proc.kill()


def write_spec(settings, filename: str, body: str, *, mtime: float | None = None) -> Path:
    settings.specs.mkdir(parents=True, exist_ok=True)
    path = settings.specs / filename
    path.write_text(body, encoding="utf-8")
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def commit_count(root: Path) -> int:
    return int(git(root, "rev-list", "--count", "HEAD").strip())


def drop_file(path: Path, data: bytes, *, mtime: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.utime(path, (mtime, mtime))
    return path


def git(root: Path, *args: str, check: bool = True) -> str:
    result = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result.stdout


def assert_clean_repository(root: Path) -> None:
    """The real git and git-lfs judge the repository."""
    git(root, "fsck", "--strict", "--no-progress")
    status = git(root, "status", "--porcelain", "--untracked-files=no")
    assert status == "", f"git status not clean in {root}:\n{status}"
    git(root, "lfs", "fsck")


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.02, what: str = "condition"):
    """Poll until ``predicate()`` is truthy (generous deadlines: these machines are noisy)."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class RunningStack:
    """The embedded stack (controller, API, gallery, jobs) in a thread; port 0 picks a free one."""

    def __init__(self, settings, *, api_port: int = 0, **kwargs) -> None:
        import threading

        import anyio

        from launcher.embedded import EmbeddedStack

        self.stack = EmbeddedStack(settings, api_port=api_port, **kwargs)
        self.thread = threading.Thread(target=anyio.run, args=(self.stack.serve,), daemon=True)

    def __enter__(self):
        self.thread.start()
        if not self.stack.ready.wait(30):
            raise RuntimeError("the embedded stack did not start")
        return self.stack

    def __exit__(self, *exc) -> None:
        self.stack.stop()
        self.thread.join(30)
        assert not self.thread.is_alive(), "the stack did not stop"


class Events:
    """A WebSocket client collecting every frame (keepalives aside) in a thread."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.frames: list[dict] = []
        from websockets.sync.client import connect

        self.ws = connect(url, open_timeout=30, legacy=True)  # read in a thread, closed by close()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            for message in self.ws:
                frame = json.loads(message)
                if frame["type"] != "keepalive":
                    self.frames.append(frame)
        except Exception:
            return

    def of(self, kind_prefix: str) -> list[dict]:
        return [f for f in list(self.frames) if f["type"].startswith(kind_prefix)]

    def wait(self, predicate, timeout: float = 30.0, what: str = "an event") -> dict:
        return wait_for(lambda: next((f for f in list(self.frames) if predicate(f)), None), timeout, 0.05, what=what)

    def close(self) -> None:
        self.ws.close()
        self.thread.join(10)


class ThreadedTestClient:
    """falcon's TestClient with each ``simulate_*`` call in a thread of its own: a call runs
    an event loop, which cannot start in the thread where the browser tests' Playwright
    loop runs (the same pytest session)."""

    def __init__(self, app) -> None:
        import falcon.testing

        self.client = falcon.testing.TestClient(app)

    def __getattr__(self, name: str):
        call = getattr(self.client, name)
        if not name.startswith("simulate_"):
            return call

        def in_a_thread(*args, **kwargs):
            import concurrent.futures

            with concurrent.futures.ThreadPoolExecutor(1) as thread:
                return thread.submit(call, *args, **kwargs).result()

        return in_a_thread
