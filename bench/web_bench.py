"""Benchmark of the gallery with many projects (issue: the web gallery).

    .venv/bin/python bench/web_bench.py [--projects 1000] [--pictures 24] [--runs 7]

``python -m launcher`` (controller, API, jobs and gallery in one process) runs in a
subprocess on scratch folders and free ports; ``--projects`` spec files are dropped
by hand and converged, and the newest ``--pictures`` projects get an image. Then:

* server: ``GET /`` through uvicorn, the whole page rendered from the API's list
  (httpx, one keep-alive connection);
* browser: Debian's Chromium (Playwright) loads ``/`` in a fresh tab per run; from
  the Navigation Timing API: first byte, DOMContentLoaded (every card parsed and the
  scripts run: the page is usable), first contentful paint, load; and the filter's
  response: keystroke to the next painted frame with the narrowed list.

Target: the gallery with 1,000 projects renders and becomes usable in under a second.
Prints numbers, asserts none.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, percentile, ready_count, wait

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]  # fmt: skip

NAVIGATION = """() => {
  const n = performance.getEntriesByType("navigation")[0];
  const fcp = performance.getEntriesByName("first-contentful-paint")[0];
  return {ttfb: n.responseStart, response_end: n.responseEnd, dom_content_loaded: n.domContentLoadedEventEnd,
          fcp: fcp ? fcp.startTime : null, load: n.loadEventEnd, ready: window.__galleryReady,
          cards: document.querySelectorAll("#cards > li").length, bytes: n.transferSize};
}"""

FILTER = """async (query) => {
  const box = document.getElementById("filter");
  const frame = () => new Promise((resolve) => requestAnimationFrame(() => resolve()));
  await frame();
  const started = performance.now();
  box.value = query;
  box.dispatchEvent(new Event("input", {bubbles: true}));
  await frame();  // the filter runs in this frame
  await frame();  // and this one is painted with its result
  return {ms: performance.now() - started, shown: document.querySelectorAll("#cards > li:not([hidden])").length};
}"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\0" + bytes(rgb) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


class Stack:
    """``python -m launcher`` on scratch folders and free ports."""

    def __init__(self, base: Path) -> None:
        self.specs, self.workspace = base / "specs", base / "workspace"
        self.specs.mkdir(parents=True)
        api_port, web_port = free_port(), free_port()
        self.api, self.web = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{web_port}"
        self.env = dict(os.environ, AUTEUR_SPECS=str(self.specs), AUTEUR_WORKSPACE=str(self.workspace), AUTEUR_API_PORT=str(api_port),
                        AUTEUR_WEB_PORT=str(web_port), AUTEUR_API_URL=self.api, PYTHONPATH=str(ROOT))  # fmt: skip
        self.log = open(base / "launcher.log", "w")
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Stack:
        self.proc = subprocess.Popen([sys.executable, "-m", "launcher"], env=self.env, cwd=ROOT, stdout=self.log, stderr=self.log)
        wait(self._up, 120, interval=0.1)
        return self

    def _up(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise RuntimeError(f"the launcher exited with {self.proc.returncode}; see {self.log.name}")
        try:
            return httpx.get(f"{self.web}/health", timeout=2).status_code == 200 and httpx.get(f"{self.api}/health", timeout=2).is_success
        except httpx.HTTPError:
            return False

    def __exit__(self, *exc: object) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(120)
        self.log.close()


def fill(stack: Stack, total: int, pictures: int) -> None:
    qualities = ("draft", "standard", "premium")
    started = time.perf_counter()
    for i in range(total):
        name = f"Film {i:05d}"
        (stack.specs / f".{i}.tmp").write_text(f"name: {name}\nquality: {qualities[i % 3]}\n")
        os.rename(stack.specs / f".{i}.tmp", stack.specs / f"{name}.yaml")
    wait(lambda: ready_count(stack.workspace / ".auteur" / "status") >= total, 3600, interval=0.5)
    print(f"setup: {total} spec files dropped -> all ready in {time.perf_counter() - started:.1f}s")
    with httpx.Client(base_url=stack.api, timeout=60) as http:
        newest = [p["id"] for p in http.get("/api/v1/projects", params={"limit": pictures}).json()]
        for n, project_id in enumerate(newest):
            files = [("files", ("keyframe.png", png(320, 180, (40 + 9 * n, 90, 200 - 6 * n)), "image/png"))]
            http.post(f"/api/v1/projects/{project_id}/assets", params={"asset_type": "storyboards"}, files=files).raise_for_status()


def figures(values: list[float], unit: str = "ms") -> str:
    return f"p50={percentile(values, 50):.0f}{unit} p90={percentile(values, 90):.0f}{unit} max={max(values):.0f}{unit}"


def bench_server(stack: Stack, runs: int) -> None:
    with httpx.Client(timeout=60) as http:
        http.get(stack.web + "/")
        took, size = [], 0
        for _ in range(runs):
            started = time.perf_counter()
            page = http.get(stack.web + "/")
            took.append((time.perf_counter() - started) * 1000)
            size = len(page.content)
        listed = []
        for _ in range(runs):
            started = time.perf_counter()
            http.get(stack.api + "/api/v1/projects")
            listed.append((time.perf_counter() - started) * 1000)
    print(f"server: GET / ({size / 1024:.0f} KiB of HTML): {figures(took)}  [of which the API's list: {figures(listed)}]")


def bench_browser(stack: Stack, runs: int, total: int) -> None:
    from playwright.sync_api import sync_playwright

    rows = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1440, "height": 900})
        warm = context.new_page()
        warm.goto(stack.web + "/")  # the static files are cached from here on, as for a returning user
        warm.close()
        for run in range(runs + 1):
            page = context.new_page()
            page.goto(stack.web + "/", wait_until="load")
            timing = page.evaluate(NAVIGATION)
            assert timing["cards"] == total, timing
            typed = page.evaluate(FILTER, f"{total - 1:05d}")
            cleared = page.evaluate(FILTER, "")
            if run:  # the first is a cold tab
                rows.append((timing, typed, cleared))
            page.close()
        browser.close()

    def column(key: str) -> list[float]:
        return [t[key] for t, _, _ in rows]

    print(f"browser: {total} cards, {runs} loads in fresh tabs (Chromium {CHROMIUM})")
    print(f"  first byte:                 {figures(column('ttfb'))}")
    print(f"  DOMContentLoaded (usable):  {figures(column('dom_content_loaded'))}")
    print(f"  gallery.js ready:           {figures(column('ready'))}")
    print(f"  first contentful paint:     {figures([t['fcp'] for t, _, _ in rows if t['fcp'] is not None])}")
    print(f"  load (visible pictures in): {figures(column('load'))}")
    print(f"  filter keystroke -> painted ({rows[0][1]['shown']} shown): {figures([typed['ms'] for _, typed, _ in rows])}")
    print(f"  filter cleared -> painted ({rows[0][2]['shown']} shown):  {figures([cleared['ms'] for _, _, cleared in rows])}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--projects", type=int, default=1000)
    parser.add_argument("--pictures", type=int, default=24)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="auteur-web-bench-", dir=os.environ.get("BENCH_TMP")))
    try:
        with Stack(base) as stack:
            fill(stack, args.projects, args.pictures)
            bench_server(stack, 20)
            bench_browser(stack, args.runs, args.projects)
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
