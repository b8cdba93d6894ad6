"""Benchmark of a project's history and an asset's versions over HTTP (issue 11).

    .venv/bin/python bench/history_bench.py [--commits 1000] [--requests 200]

``python -m launcher`` creates a project on scratch folders and stops; ``git fast-import``
then adds ``--commits`` commits on top of its ``main`` (each changes one of 20 small notes,
every tenth also a 4 KiB LFS file, ``assets/audio/take.wav``, whose objects go into the LFS
store), ``git reset --hard`` puts the working tree in step, and the launcher starts again and
records the new head. Then, over one keep-alive connection: ``GET .../history`` (the first
page) ``--requests`` times; ``GET .../versions?path=`` of the LFS file (a walk of the whole
history; the first call diffs every commit once, and is printed apart) ``--requests`` times;
and the history paged with ``before`` (from the entries the versions walk left) from the head to the first commit and round again
until ``--requests`` pages. Target: history p99 <= 50 ms. Prints numbers,
asserts none.
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from api_bench import Launcher, figures
from common import wait

TAKE = "assets/audio/take.wav"


def fast_import_stream(git_dir: Path, parent: str, commits: int, start: int) -> bytes:
    """The commits as a ``git fast-import`` stream; the LFS objects their pointers name are written too."""
    out = []
    for i in range(commits):
        files = [(f"assets/scripts/notes-{i % 20:02d}.txt", f"scene {i}\n".encode() * 8)]
        if i % 10 == 0:
            content = hashlib.sha256(str(i).encode()).digest() * 128  # 4 KiB
            oid = hashlib.sha256(content).hexdigest()
            obj = git_dir / "lfs" / "objects" / oid[:2] / oid[2:4] / oid
            obj.parent.mkdir(parents=True, exist_ok=True)
            obj.write_bytes(content)
            pointer = f"version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize {len(content)}\n".encode()
            files.append((TAKE, pointer))
        message = f"bench commit {i}\n".encode()
        when = start + i
        out.append(f"commit refs/heads/main\nauthor Bench <bench@localhost> {when} +0000\n"
                   f"committer Bench <bench@localhost> {when} +0000\ndata {len(message)}\n".encode() + message)  # fmt: skip
        if i == 0:
            out.append(f"from {parent}\n".encode())
        for path, data in files:
            out.append(f"M 100644 inline {path}\ndata {len(data)}\n".encode() + data + b"\n")
        out.append(b"\n")
    return b"".join(out)


def git(root: Path, *args: str, data: bytes | None = None) -> str:
    return subprocess.run(["git", *args], cwd=root, input=data, capture_output=True, check=True).stdout.decode()


def timed(http: httpx.Client, url: str, params: dict[str, str]) -> tuple[float, httpx.Response]:
    started = time.perf_counter()
    answer = http.get(url, params=params)
    took = time.perf_counter() - started
    assert answer.status_code == 200, answer.text
    return took, answer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--commits", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="auteur-history-bench-") as scratch:
        base = Path(scratch)
        with Launcher(base) as stack, httpx.Client(base_url=stack.url, timeout=60) as http:
            answer = http.post("/api/v1/projects", json={"name": "long-film"})
            assert answer.status_code == 201, answer.text
            root = stack.workspace / answer.json()["folder"]
        started = time.perf_counter()
        head = git(root, "rev-parse", "HEAD").strip()
        git(root, "fast-import", "--quiet", data=fast_import_stream(root / ".git", head, args.commits, int(time.time()) - args.commits))
        git(root, "reset", "--quiet", "--hard", "main")
        tip = git(root, "rev-parse", "HEAD").strip()
        print(f"history: {args.commits} commits made with git fast-import in {time.perf_counter() - started:.1f}s")
        with Launcher(base) as stack, httpx.Client(base_url=stack.url, timeout=60) as http:
            project = "/api/v1/projects/long-film"
            wait(lambda: http.get(f"{project}/git/status").json().get("current_commit") == tip, 300, interval=0.2)
            history = f"{project}/history"
            first = [timed(http, history, {})[0] for _ in range(args.requests)]
            print(f"history, first page (20 commits), {args.requests} requests: {figures(first)} "
                  f"(the first, diffing them: {first[0] * 1000:.1f} ms) (target p99 <= 50 ms)")  # fmt: skip
            versions = f"{project}/versions"
            walks = [timed(http, versions, {"path": TAKE, "limit": "500"})[0] for _ in range(args.requests)]
            count = len(http.get(versions, params={"path": TAKE, "limit": "500"}).json()["items"])
            print(f"versions of {TAKE} ({count} versions in {args.commits + 1}+ commits, the whole history walked), "
                  f"{args.requests} requests: {figures(walks)} (the first, diffing every commit: {walks[0] * 1000:.1f} ms)")  # fmt: skip
            paged, before = [], None
            while len(paged) < args.requests:
                seconds, answer = timed(http, history, {"before": before} if before else {})
                paged.append(seconds)
                before = answer.json()["next"]  # None at the first commit: round again from the head
            print(f"history, paged with before= (20 a page, head to first commit and round again), {args.requests} "
                  f"requests: {figures(paged)} (target p99 <= 50 ms)")  # fmt: skip


if __name__ == "__main__":
    main()
