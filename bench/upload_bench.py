"""Upload benchmark: one large file over HTTP until ingested and committed, against
``git add`` with git-lfs on the same file, in the same run; and the embedded
process's peak RSS.

    .venv/bin/python bench/upload_bench.py [--size-mib 1024] [--rounds 1]

The stack runs as ``python -m launcher`` in a subprocess on scratch folders and a
free port; the client sends the multipart body with ``sendfile`` (as ``curl -F``
would stream it) and the time runs from the first byte sent until the upload
record says ``completed`` (the file in ``assets/`` and committed through LFS).
The baseline is ``git add`` of the same file in a fresh repository set up with
``git lfs install --local`` (and, for reference, ``git add`` + ``git commit``).
Prints numbers; never asserts on time.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, wait

BOUNDARY = "auteur-bench-boundary-7d1f0c"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_file(path: Path, size: int) -> None:
    with open(path, "wb") as out:
        left = size
        while left:
            chunk = os.urandom(min(left, 4 << 20))
            out.write(chunk)
            left -= len(chunk)


def new_content(path: Path) -> str:
    """Change the first bytes of ``path`` and return its sha256 (also warms the page cache)."""
    with open(path, "r+b") as handle:
        handle.write(os.urandom(16))
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def vm_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def upload(port: int, project: str, path: Path, asset_type: str, host: str = "127.0.0.1") -> tuple[float, dict]:
    """POST the file as multipart with sendfile to ``host:port``; (seconds to the 200, the answer)."""
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="files"; filename="{path.name}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    tail = f"\r\n--{BOUNDARY}--\r\n".encode()
    size = path.stat().st_size
    request = (
        f"POST /api/v1/projects/{project}/assets?asset_type={asset_type} HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: {len(head) + size + len(tail)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    started = time.perf_counter()
    with socket.create_connection((host, port)) as sock, open(path, "rb") as src:
        sock.sendall(request + head)
        offset = 0
        while offset < size:
            offset += os.sendfile(sock.fileno(), src.fileno(), offset, size - offset)
        sock.sendall(tail)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    elapsed = time.perf_counter() - started
    status_line, _, rest = answer.partition(b"\r\n")
    body = rest.partition(b"\r\n\r\n")[2]
    if b" 200 " not in status_line:
        raise RuntimeError(f"upload failed: {answer[:500]!r}")
    return elapsed, json.loads(body)


def git_add(base: Path, source: Path) -> tuple[float, float]:
    """(git add seconds, git add + git commit seconds) of ``source`` in a fresh LFS repository."""
    repo = base / "git-baseline"
    if repo.exists():
        shutil.rmtree(repo)
    repo.mkdir()

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)

    git("init", "-q", "-b", "main")
    git("lfs", "install", "--local")
    (repo / ".gitattributes").write_text(f"*{source.suffix} filter=lfs diff=lfs merge=lfs -text\n")
    git("add", ".gitattributes")
    git("-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", "init")
    os.link(source, repo / source.name)  # the same bytes, the same page cache
    started = time.perf_counter()
    git("add", source.name)
    added = time.perf_counter() - started
    git("-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", "add")
    committed = time.perf_counter() - started
    shutil.rmtree(repo)
    return added, committed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--tmp", default=os.environ.get("BENCH_TMP"))
    args = parser.parse_args()
    size = args.size_mib << 20
    base = Path(tempfile.mkdtemp(prefix="auteur-upload-bench-", dir=args.tmp))
    port = free_port()
    env = dict(os.environ, AUTEUR_SPECS=str(base / "specs"), AUTEUR_WORKSPACE=str(base / "workspace"),
               AUTEUR_API_PORT=str(port), PYTHONPATH=str(ROOT))  # fmt: skip
    log = open(base / "launcher.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "launcher"], cwd=ROOT, env=env, stdout=log, stderr=log)
    try:
        source = base / "take.mp4"
        make_file(source, size)
        http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120)
        wait(lambda: _live(http), 60)
        created = http.post("/api/v1/projects", json={"name": "bench"})
        assert created.status_code in (201, 202), created.text
        wait(lambda: http.get("/api/v1/projects/bench").json().get("status") == "ready", 60)
        records = base / "workspace" / ".auteur" / "uploads"
        print(f"upload of {size / 2**20:.0f} MiB over HTTP (loopback) vs git add with git-lfs; stack pid {proc.pid}")
        print(f"  RSS before: {vm_kib(proc.pid, 'VmRSS') / 1024:.1f} MB (peak so far {vm_kib(proc.pid, 'VmHWM') / 1024:.1f} MB)")
        for round_ in range(1, args.rounds + 1):
            oid = new_content(source)  # a new oid each round: nothing is in the LFS store yet
            if round_ % 2 == 0:  # alternate who goes first: the disk remembers the last writer
                add_s, commit_s = git_add(base, source)
            stored_s, answer = upload(port, "bench", source, "renders")
            upload_id = answer["uploads"][0]["upload_id"]
            record_path = records / f"{upload_id}.json"
            started = time.perf_counter() - stored_s
            record = wait(lambda path=record_path: _finished(path), 600, interval=0.005)
            total_s = time.perf_counter() - started
            assert record["status"] == "completed", record
            assert record["oid"] == oid, "the stored oid is not the file's sha256"
            if round_ % 2 == 1:
                add_s, commit_s = git_add(base, source)
            mbps = size / total_s / 1e6
            print(f"  round {round_}: stored (200) in {stored_s:.2f}s, ingested and committed in {total_s:.2f}s "
                  f"({mbps:.0f} MB/s); git add {add_s:.2f}s ({size / add_s / 1e6:.0f} MB/s), "
                  f"git add + commit {commit_s:.2f}s; ratio {add_s / total_s:.2f}x (target >= 1.5x)")  # fmt: skip
        print(f"  peak RSS of the embedded process (VmHWM): {vm_kib(proc.pid, 'VmHWM') / 1024:.1f} MB (target <= 150 MB)")
        return 0
    finally:
        proc.terminate()
        proc.wait(60)
        log.close()
        shutil.rmtree(base, ignore_errors=True)


def _live(http: httpx.Client) -> bool:
    try:
        return http.get("/health/live").status_code == 200
    except httpx.TransportError:
        return False


def _finished(path: Path) -> dict | None:
    try:
        record = json.loads(path.read_bytes())
    except (FileNotFoundError, ValueError):
        return None
    return record if record["status"] in ("completed", "failed") else None


if __name__ == "__main__":
    sys.exit(main())
