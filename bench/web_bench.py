"""Benchmark of the gallery with many projects (issues: the web gallery; 11, 10,000 projects).

    TMPDIR=/dev/shm .venv/bin/python bench/web_bench.py [--projects 10000] [--pictures 24] [--runs 10]

``python -m launcher`` (controller, API, jobs and gallery in one process) runs in a
subprocess on scratch folders and free ports; ``--projects`` spec files are dropped
by hand and converged, and the newest ``--pictures`` projects get an image. Then:

* API: one page of 50 of ``GET /api/v1/projects`` in several views (newest, by name,
  a search, a status), each asked many times (httpx, one keep-alive connection);
* server: ``GET /`` through uvicorn: the first page of cards rendered from the API;
* browser: Debian's Chromium (Playwright) loads ``/`` in a fresh tab per run. Usable:
  the first cards painted (first contentful paint) and gallery.js ready, whichever comes
  later; once the pictures near the view have come in (network idle), a keystroke in the
  search box to the next painted frame with the API's answer shown; a project created
  through the API (``process_async``: the controller's report is what brings it) to its
  card in the page.

Targets at 10,000 projects: usable p90 <= 1 s, keystroke -> painted <= 100 ms, a new
project live <= 1 s, the API's page of 50 p99 <= 50 ms. Prints numbers, asserts none.
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
PAGE = 60  # cards on one page of the gallery (web.pages.PAGE_SIZE)

NAVIGATION = """async () => {
  const frame = () => new Promise((resolve) => requestAnimationFrame(() => resolve()));
  await frame();  // the paint entries of a page painted just after its load event
  await frame();
  const n = performance.getEntriesByType("navigation")[0];
  const fcp = performance.getEntriesByName("first-contentful-paint")[0];
  const paint = fcp || performance.getEntriesByName("first-paint")[0];
  return {ttfb: n.responseStart, dom_content_loaded: n.domContentLoadedEventEnd,
          fcp: fcp ? fcp.startTime : null, paint: paint ? paint.startTime : null, load: n.loadEventEnd, ready: window.__galleryReady,
          cards: document.querySelectorAll("#cards > li").length, bytes: n.transferSize};
}"""

# One keystroke: the box's new value, then the frame painted after gallery.js showed the API's answer.
KEYSTROKE = """async (query) => {
  const box = document.getElementById("filter");
  const frame = () => new Promise((resolve) => requestAnimationFrame(() => resolve()));
  await frame();
  const started = performance.now();
  box.value = query;
  box.dispatchEvent(new Event("input", {bubbles: true}));
  while (!(window.__galleryShown > started) || document.getElementById("cards").getAttribute("aria-busy") === "true") await frame();
  await frame();  // the frame with the result is painted
  return {ms: performance.now() - started, shown: document.querySelectorAll("#cards > li").length};
}"""

# The wall-clock time (ms) at which a card first shows up in #cards.
WATCH = """() => {
  window.__seen = {};
  new MutationObserver((records) => {
    for (const r of records) for (const n of r.addedNodes) {
      if (n.id && !window.__seen[n.id.slice(5)]) window.__seen[n.id.slice(5)] = Date.now();
    }
  }).observe(document.getElementById("cards"), {childList: true});
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

        def ingested() -> bool:
            projects = http.get("/api/v1/projects", params={"limit": pictures}).json()
            return all(p["asset_count"] >= 1 and not p["pending_files"] and p["status"] == "ready" for p in projects)

        wait(ingested, 600, interval=0.5)  # measured once the pictures are committed: the stack at rest


def figures(values: list[float], unit: str = "ms") -> str:
    return f"p50={percentile(values, 50):.0f}{unit} p90={percentile(values, 90):.0f}{unit} max={max(values):.0f}{unit}"


def bench_api(stack: Stack, runs: int) -> None:
    views = {"newest": {}, "name": {"sort": "name"}, "changed, page 20": {"sort": "changed", "offset": 950},
             "search 'film 12'": {"q": "film 12"}, "status ready": {"status": "ready"}}  # fmt: skip
    with httpx.Client(base_url=stack.api, timeout=60) as http:
        for label, params in views.items():
            took = []
            for _ in range(runs):
                started = time.perf_counter()
                http.get("/api/v1/projects", params={"limit": 50, **params}).raise_for_status()
                took.append((time.perf_counter() - started) * 1000)
            print(f"api: a page of 50, {label}: {figures(took)} p99={percentile(took, 99):.1f}ms")


def bench_server(stack: Stack, runs: int) -> None:
    with httpx.Client(timeout=60) as http:
        http.get(stack.web + "/")
        took, size = [], 0
        for _ in range(runs):
            started = time.perf_counter()
            page = http.get(stack.web + "/")
            took.append((time.perf_counter() - started) * 1000)
            size = len(page.content)
    print(f"server: GET / (the first {PAGE} cards, {size / 1024:.0f} KiB of HTML): {figures(took)}")


def bench_browser(stack: Stack, runs: int, total: int) -> None:
    from playwright.sync_api import sync_playwright

    loads, keystrokes, live = [], [], []
    with sync_playwright() as playwright, httpx.Client(base_url=stack.api, timeout=60) as http:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1440, "height": 900})
        warm = context.new_page()
        warm.goto(stack.web + "/")  # the static files are cached from here on, as for a returning user
        warm.close()
        for run in range(runs + 1):
            page = context.new_page()
            page.goto(stack.web + "/", wait_until="load")
            timing = page.evaluate(NAVIGATION)
            assert timing["cards"] == min(total, PAGE), timing
            if run:  # the first is a cold tab
                loads.append(timing)
                page.wait_for_load_state("networkidle")  # the pictures lazy-loaded after load, as before a person types
                typed = ""
                for key in f"film {run % 10}{run % 7}":
                    typed += key
                    keystrokes.append(page.evaluate(KEYSTROKE, typed)["ms"])
                page.evaluate(KEYSTROKE, "")
                page.evaluate(WATCH)
                name = f"Live {run:02d} {time.time_ns()}"
                sent = time.time()
                http.post("/api/v1/projects", json={"name": name, "process_async": True}).raise_for_status()
                key = name.lower().replace(" ", "-")
                seen = wait(lambda page=page, key=key: page.evaluate(f"window.__seen[{key!r}]"), 30, interval=0.02)
                live.append(seen - sent * 1000)
            page.close()
        browser.close()

    usable = [max(t["paint"], t["ready"]) for t in loads if t["paint"] is not None]
    print(f"browser: {total} projects, the first {PAGE} cards; {runs} loads in fresh tabs (Chromium {CHROMIUM})")
    print(f"  first byte:                      {figures([t['ttfb'] for t in loads])}")
    print(f"  first contentful paint:          {figures([t['fcp'] for t in loads if t['fcp'] is not None])}")
    print(f"  usable (painted, script ready):  {figures(usable)}  ({len(loads) - len(usable)} loads reported no paint)")
    print(f"  load (visible pictures in):      {figures([t['load'] for t in loads])}")
    print(f"  search keystroke -> painted:     {figures(keystrokes)}  ({len(keystrokes)} keystrokes)")
    print(f"  new project -> its card (live):  {figures(live)}  (from the POST sent)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--projects", type=int, default=10_000)
    parser.add_argument("--pictures", type=int, default=24)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="auteur-web-bench-", dir=os.environ.get("BENCH_TMP")))
    try:
        with Stack(base) as stack:
            fill(stack, args.projects, args.pictures)
            bench_api(stack, 300)
            bench_server(stack, 20)
            bench_browser(stack, args.runs, args.projects)
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
