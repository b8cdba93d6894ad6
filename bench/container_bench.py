"""Container overhead: the compose services as containers against the same services as host processes.

    .venv/bin/python bench/container_bench.py [--creates 200] [--projects 1000] [--upload-mib 1024]
                                              [--rounds 1] [--modes containers,processes,embedded]

* **containers**: ``docker-compose.yml`` (compose v2 from ``.venv``) as its own project
  ``auteurbench`` on ports 18400/13400, services redis, controller, worker and backend (no
  gallery); images from ``python -m launcher.images``. ``AUTEUR_SPECS`` names a scratch
  folder as the host side of ``/specs``, not the checkout's ``./specs``, which another stack
  of this checkout may be using. ``down -v`` at the end, always.
  The client reaches the published port at this host's own address (not 127.0.0.1), as a
  client on another machine does: the engine's iptables rules forward it in the kernel.
* **loopback**: the same containers at the published port on 127.0.0.1, which the engine
  serves with its userspace ``docker-proxy`` (a client on this host: a browser, ``curl``).
* **bridge**: the same containers at the backend's own address on the compose bridge, port
  8000 (no published port).
* **processes**: ``redis-server`` (the compose file's flags) on a free port, ``python -m
  controller run``, ``python -m worker``, ``python -m api``, on scratch folders in /var/tmp.
* **embedded**: ``python -m launcher`` (one process, no Redis), for reference.

The host processes run the interpreter the image has: Debian's ``/usr/bin/python3`` in a
scratch venv of the image's own wheels (``.docker/wheels``), so the figures compare a
container with a process, not two builds of Python (``--python venv`` takes this
checkout's ``.venv`` instead; a pyenv build without PGO/LTO runs pure Python ~30% slower).

Each round starts a new stack of every mode, and they run side by side (one container mode at
a time: the three share one compose project). The latencies are paired: one client (httpx on
this host, at each mode's address) sends each request to every stack in turn, first in one
order then in the other, so a slow moment of this shared machine falls on every mode alike
rather than on whichever ran then (runs one mode after another differed by more than the 10%
asked about). It times N sequential ``POST /api/v1/projects`` per stack, each answered 201
with a ready project; then fills each stack in turn to the list's size (``process_async``) and
waits for all ready; then ``GET /api/v1/projects`` and as many ``GET /health/live`` (the
smallest answer: what the network path itself costs a request), paired the same way; then one
upload per stack, one stack at a time, of a file on disk (body sent with ``sendfile`` by
``upload_bench.upload``) until the ``upload.completed`` event arrives on the API's WebSocket
(ingested and committed), with the containers' peak memory sampled meanwhile (``Memory``).
The modes' order alternates from round to round. Medians over
rounds; the overhead is container against host processes (target <= 10%). Prints numbers;
never asserts on time.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, percentile, wait
from upload_bench import free_port, make_file, new_content, upload

COMPOSE = [str(ROOT / ".venv" / "bin" / "docker-compose"), "-f", str(ROOT / "docker-compose.yml")]
SERVICES = ["redis", "controller", "worker", "backend"]
BENCH_ENV = {"COMPOSE_PROJECT_NAME": "auteurbench", "AUTEUR_API_PORT": "18400", "AUTEUR_WEB_PORT": "13400"}
FIGURES = [("create p50", "ms", "create_p50"), ("create p99", "ms", "create_p99"), ("list p50", "ms", "list_p50"),
           ("list p99", "ms", "list_p99"), ("upload stored", "MiB/s", "stored_mibs"),
           ("upload committed", "MiB/s", "upload_mibs"), ("fill to all ready", "s", "fill_s"),
           ("list body", "KiB", "list_kib"), ("GET /health/live p50", "ms", "live_p50"),
           ("GET /health/live p99", "ms", "live_p99")]  # fmt: skip
SETTLE_SECONDS = 5.0  # after the last stack is up: the start-up work of each (first resync, journal) done


class Stack:
    """One way of running the services; ``port`` is where the API answers on 127.0.0.1."""

    host = "127.0.0.1"

    def __init__(self, base: Path, python: str = sys.executable) -> None:
        self.base, self.port, self.python = base, free_port(), python
        base.mkdir(parents=True)
        self.procs: list[subprocess.Popen[bytes]] = []

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def spawn(self, name: str, *command: str, env: dict[str, str] | None = None) -> None:
        with open(self.base / f"{name}.log", "wb") as log:  # each in its own group: stop() reaches its children
            self.procs.append(subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log, start_new_session=True))

    def healthy(self) -> bool:
        for proc in self.procs:
            if proc.poll() is not None:
                raise RuntimeError(f"{proc.args[:3]} exited with {proc.returncode}; logs in {self.base}")
        try:
            return httpx.get(self.url + "/health", timeout=5).json().get("status") == "healthy"
        except (httpx.HTTPError, ValueError):
            return False

    def logs(self) -> str:
        return "".join(f"--- {log.name}\n{log.read_text(errors='replace')[-3000:]}" for log in sorted(self.base.glob("*.log")))

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.returncode is None:  # not reaped yet: its pid, and so its group, is still ours
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        for proc in reversed(self.procs):
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


class Processes(Stack):
    def start(self) -> None:
        redis_port = free_port()
        (self.base / "redis").mkdir()
        self.spawn("redis", "redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--appendonly", "yes", "--save", "",
                   "--dir", str(self.base / "redis"))  # fmt: skip
        env = service_env(self.base, self.port, REDIS_URL=f"redis://127.0.0.1:{redis_port}/0", AUTEUR_API_HOST="127.0.0.1")
        for name, module in (("controller", ["controller", "run"]), ("worker", ["worker"]), ("api", ["api"])):
            self.spawn(name, self.python, "-m", *module, env=env)
        wait(self.healthy, 180, interval=0.2)


class Embedded(Stack):
    def start(self) -> None:
        self.spawn("launcher", self.python, "-m", "launcher", env=service_env(self.base, self.port, AUTEUR_WEB_PORT=str(free_port())))
        wait(self.healthy, 180, interval=0.2)


def own_address() -> str:
    """This host's address on its network (not loopback): where other machines reach it."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("198.51.100.1", 9))  # no packet is sent: this only picks the route's source address
        return str(probe.getsockname()[0])


class Containers(Stack):
    """The published port at this host's own address, as a client on another machine reaches it:
    the engine's iptables rules forward it to the container in the kernel."""

    def __init__(self, base: Path, images: dict[str, str]) -> None:
        super().__init__(base)
        self.host = own_address()
        self.port = int(BENCH_ENV["AUTEUR_API_PORT"])
        (base / "specs").mkdir()  # made here, by this user, not by the engine as root
        self.env = {**os.environ, **images, **BENCH_ENV, "AUTEUR_SPECS": str(base / "specs")}

    def compose(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        command = [*COMPOSE, *args]
        return subprocess.run(command, cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=timeout)

    def start(self) -> None:
        self.compose("down", "-v", "--remove-orphans")  # a leftover of an interrupted run of this benchmark
        done = self.compose("up", "-d", "--no-build", "--wait", "--wait-timeout", "300", *SERVICES)
        if done.returncode:
            raise RuntimeError(f"compose up exited {done.returncode}: {done.stderr[-2000:]}")
        wait(self.healthy, 180, interval=0.2)

    def logs(self) -> str:
        return self.compose("logs", "--no-color", "--tail", "40").stdout

    def cgroups(self) -> dict[str, Path]:
        """The memory cgroup (v1) of the backend and the worker containers."""
        found = {}
        for service in ("backend", "worker"):
            cid = self.compose("ps", "-q", service).stdout.split()[0]
            full = subprocess.run(["docker", "inspect", "-f", "{{.Id}}", cid], capture_output=True, text=True, check=True).stdout.strip()
            found[service] = Path("/sys/fs/cgroup/memory/docker") / full
        return found

    def stop(self) -> None:
        done = self.compose("down", "-v", "--remove-orphans", "--timeout", "30")
        if done.returncode:
            print(f"  WARNING: compose down -v exited {done.returncode}: {done.stderr[-1000:]}", file=sys.stderr)


class Loopback(Containers):
    """The published port on 127.0.0.1: a client on this host, which the engine serves through its
    userspace ``docker-proxy`` (every byte copied once more, by one more process)."""

    def __init__(self, base: Path, images: dict[str, str]) -> None:
        super().__init__(base, images)
        self.host = "127.0.0.1"


class Bridge(Containers):
    """The backend's own address on the compose bridge, port 8000: no published port at all."""

    def start(self) -> None:
        super().start()
        ids = self.compose("ps", "-q", "backend").stdout.split()
        fmt = "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}"
        self.host = subprocess.run(["docker", "inspect", "-f", fmt, ids[0]], capture_output=True, text=True, check=True).stdout.strip()
        self.port = 8000


CONTAINER_MODES: dict[str, type[Containers]] = {"containers": Containers, "loopback": Loopback, "bridge": Bridge}
HOST_MODES: dict[str, type[Stack]] = {"processes": Processes, "embedded": Embedded}


def service_env(base: Path, port: int, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    return {**env, "AUTEUR_SPECS": str(base / "specs"), "AUTEUR_WORKSPACE": str(base / "workspace"), "AUTEUR_API_PORT": str(port),
            "PYTHONPATH": str(ROOT), **extra}  # fmt: skip


def image_env() -> dict[str, str]:
    """The images the compose file should use, as ``launcher.images`` chose (and built if needed)."""
    out = subprocess.run([sys.executable, "-m", "launcher.images"], cwd=ROOT, stdout=subprocess.PIPE, text=True, check=True).stdout
    pairs = (line.split("=", 1) for line in out.splitlines() if "=" in line)
    return {k: v for k, v in pairs if k.startswith("AUTEUR_")}


def image_python(base: Path) -> str:
    """A venv of Debian's python3 with the wheels the image installs (nothing fetched: ``--no-index``)."""
    wheels, venv = ROOT / ".docker" / "wheels", base / "venv"
    subprocess.run(["/usr/bin/python3", "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", "--no-index", "--find-links", str(wheels),
                    "-r", str(wheels / "requirements.txt")], check=True)  # fmt: skip
    return str(venv / "bin" / "python")


class Events:
    """The API's event WebSocket, read in a thread: when each upload's final event arrived."""

    def __init__(self, url: str) -> None:
        self.ws = connect(url.replace("http://", "ws://") + "/api/v1/events", max_size=None, open_timeout=30)
        self.finished: dict[str, tuple[float, str]] = {}
        self.cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            for message in self.ws:
                frame = json.loads(message)
                if frame.get("type") in ("upload.completed", "upload.failed"):
                    with self.cond:
                        self.finished[frame["data"]["upload_id"]] = (time.perf_counter(), frame["type"])
                        self.cond.notify_all()
        except ConnectionClosed:
            pass

    def wait(self, upload_id: str, timeout: float) -> tuple[float, str]:
        with self.cond:
            if not self.cond.wait_for(lambda: upload_id in self.finished, timeout):
                raise TimeoutError(f"no final event for upload {upload_id} in {timeout:.0f} s")
            return self.finished[upload_id]


def paired(http: dict[str, httpx.Client], count: int, request: Callable[[str, httpx.Client, int], httpx.Response],
           warm_up: int = 0) -> dict[str, list[float]]:  # fmt: skip
    """Seconds taken by ``count`` requests to each stack, sent to every stack in turn: ABAB...
    then BABA..., so each mode goes first as often. ``request(mode, client, n)`` sends the
    n-th and checks its answer; the first ``warm_up`` are not timed."""
    order = list(http)
    took: dict[str, list[float]] = {mode: [] for mode in order}
    for n in range(warm_up + count):
        for mode in order if n % 2 == 0 else order[::-1]:
            started = time.perf_counter()
            request(mode, http[mode], n)
            if n >= warm_up:
                took[mode].append(time.perf_counter() - started)
    return took


def fill(mode: str, client: httpx.Client, first: int, total: int) -> float:
    """Seconds to create projects ``first``..``total`` without waiting (``process_async``) and see all ready."""
    started = time.perf_counter()
    for n in range(first, total):
        answer = client.post("/api/v1/projects", json={"name": f"fill-{n:05d}", "process_async": True})
        if answer.status_code != 201:
            raise RuntimeError(f"{mode}: create fill-{n:05d}: HTTP {answer.status_code} {answer.text[:500]}")

    def count(status: str) -> int:
        return int(client.get("/api/v1/projects", params={"status": status, "limit": 0}).headers["X-Total-Count"])

    def all_ready() -> bool:
        if failed := count("failed"):
            raise RuntimeError(f"{mode}: {failed} projects failed")
        return count("ready") >= total

    wait(all_ready, 3600, interval=0.5)
    return time.perf_counter() - started


def measure(stacks: dict[str, Stack], args: argparse.Namespace, source: Path) -> dict[str, dict[str, float]]:
    """Every figure for every stack, the stacks running side by side: the latencies are
    ``paired``, so a slow second of the machine falls on all of them alike instead of on
    whichever mode happened to run then."""
    order = list(stacks)
    http = {mode: httpx.Client(base_url=stack.url, timeout=120) for mode, stack in stacks.items()}
    out: dict[str, dict[str, float]] = {mode: {} for mode in order}
    total = max(args.projects, args.creates)

    def create(mode: str, client: httpx.Client, n: int) -> httpx.Response:
        answer = client.post("/api/v1/projects", json={"name": f"bench-{n:05d}"})
        if answer.status_code != 201:
            raise RuntimeError(f"{mode}: create bench-{n:05d}: HTTP {answer.status_code} {answer.text[:500]}")
        return answer

    def list_all(mode: str, client: httpx.Client, n: int) -> httpx.Response:
        answer = client.get("/api/v1/projects")
        if answer.status_code != 200 or answer.headers["X-Total-Count"] != str(total):
            raise RuntimeError(f"{mode}: list: HTTP {answer.status_code}, {answer.headers.get('X-Total-Count')} projects, not {total}")
        out[mode]["list_kib"] = len(answer.content) / 1024
        return answer

    def live(mode: str, client: httpx.Client, n: int) -> httpx.Response:
        return client.get("/health/live").raise_for_status()

    created = paired(http, args.creates, create)
    for mode in order:  # one stack at a time: the fill is a figure of its own, not paired
        out[mode]["fill_s"] = fill(mode, http[mode], args.creates, total)
    listed = paired(http, args.requests, list_all, warm_up=5)
    probed = paired(http, args.requests, live, warm_up=5)  # the smallest answer: what the network path itself costs
    for mode in order:
        figures = {"create": created[mode], "list": listed[mode], "live": probed[mode]}
        out[mode].update({f"{name}_p{p}": percentile(taken, p) * 1000 for name, taken in figures.items() for p in (50, 99)})

    for mode in order if args.upload_mib else []:  # one at a time: each has the disk to itself
        stack = stacks[mode]
        new_content(source)  # a new oid for each upload (and the file in the page cache)
        os.sync()  # the last upload written back first: it would slow this one's fsyncs
        events = Events(stack.url)
        memory = Memory(stack.cgroups()) if isinstance(stack, Containers) else None
        try:
            started = time.perf_counter()
            stored_s, answer = upload(stack.port, "bench-00000", source, "renders", stack.host)
            at, kind = events.wait(answer["uploads"][0]["upload_id"], 1800)
        finally:
            events.ws.close()
            if memory is not None:
                out[mode].update(memory.stop())
        if kind != "upload.completed":
            raise RuntimeError(f"{mode}: the upload ended with {kind}; see the worker's log")
        out[mode].update(stored_mibs=args.upload_mib / stored_s, upload_mibs=args.upload_mib / (at - started))
    for client in http.values():
        client.close()
    return out


class Memory:
    """Peak memory of containers while an upload runs: RSS sampled every 0.1 s from each cgroup's
    ``memory.stat`` (``total_rss``), and ``memory.max_usage_in_bytes`` (page cache included),
    reset at the start."""

    def __init__(self, cgroups: dict[str, Path]) -> None:
        self.cgroups = cgroups
        self.rss = dict.fromkeys(cgroups, 0)
        for folder in cgroups.values():
            (folder / "memory.max_usage_in_bytes").write_text("0")
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()

    def _sample(self) -> None:
        while not self.done.is_set():
            for service, folder in self.cgroups.items():
                stat = dict(line.split() for line in (folder / "memory.stat").read_text().splitlines())
                self.rss[service] = max(self.rss[service], int(stat["total_rss"]))
            time.sleep(0.1)

    def stop(self) -> dict[str, float]:
        self.done.set()
        self.thread.join()
        figures = {}
        for service, folder in self.cgroups.items():
            figures[f"{service}_rss_mib"] = self.rss[service] / (1 << 20)
            figures[f"{service}_usage_mib"] = int((folder / "memory.max_usage_in_bytes").read_text()) / (1 << 20)
        return figures


def report(results: dict[str, list[dict[str, float]]]) -> dict[str, dict[str, float]]:
    medians = {mode: {k: statistics.median(r[k] for r in rounds) for k in rounds[0]} for mode, rounds in results.items() if rounds}
    modes = list(medians)
    compared = [m for m in CONTAINER_MODES if m in modes] if "processes" in modes else []
    print(f"\n{'figure':<26}" + "".join(f"{m:>14}" for m in modes) + "".join(f"   {m} vs processes (<= 10%)" for m in compared))
    for title, unit, key in FIGURES:
        if not all(key in medians[m] for m in modes):
            continue
        row = f"{title + ' (' + unit + ')':<26}" + "".join(f"{medians[m][key]:>14.1f}" for m in modes)
        for mode in compared:
            c, p = medians[mode][key], medians["processes"][key]
            ratio = p / c if unit == "MiB/s" else c / p  # > 1: the containers are slower
            row += f"   {ratio:.3f}x ({(ratio - 1) * 100:+.1f}%){'' if ratio <= 1.10 else ' OVER'}".ljust(29)
        print(row)
    for mode in (m for m in modes if "backend_rss_mib" in medians[m]):
        shown = ", ".join(f"{service} RSS {medians[mode][f'{service}_rss_mib']:.0f} MiB, with page cache "
                          f"{medians[mode][f'{service}_usage_mib']:.0f} MiB" for service in ("backend", "worker"))  # fmt: skip
        print(f"peak memory during the upload ({mode}, medians): {shown}")
    return medians


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--creates", type=int, default=200)
    parser.add_argument("--projects", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=200, help="timed GET /api/v1/projects")
    parser.add_argument("--upload-mib", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--modes", default="containers,processes,embedded")
    parser.add_argument("--python", default="image", help="image (default), venv, or an interpreter for the host processes")
    parser.add_argument("--tmp", default=os.environ.get("BENCH_TMP", "/var/tmp"))
    args = parser.parse_args()
    modes = args.modes.split(",")
    if set(modes) - {*CONTAINER_MODES, *HOST_MODES} or args.creates < 1 or len(set(modes) & set(CONTAINER_MODES)) > 1:
        parser.error("--modes takes containers, loopback, bridge (one of the three: they share one compose project), processes,"
                     " embedded; --creates must be at least 1")  # fmt: skip
    images = image_env() if set(modes) & set(CONTAINER_MODES) or args.python == "image" else {}
    base = Path(tempfile.mkdtemp(prefix="auteur-container-bench-", dir=args.tmp))
    results: dict[str, list[dict[str, float]]] = {mode: [] for mode in modes}
    try:
        python = image_python(base) if args.python == "image" else sys.executable if args.python == "venv" else args.python
        version = subprocess.run([python, "-c", "import sys; print(sys.version.split()[0])"], capture_output=True, text=True).stdout
        source = base / "take.mp4"
        make_file(source, args.upload_mib << 20)
        print(f"container overhead: {args.creates} creates, list of {max(args.projects, args.creates)} projects "
              f"({args.requests} requests), upload of {args.upload_mib} MiB; {args.rounds} round(s); host Python "
              f"{version.strip()} ({python}); scratch {base}",
              flush=True)  # fmt: skip
        for round_ in range(args.rounds):
            order = modes if round_ % 2 == 0 else modes[::-1]
            stacks: dict[str, Stack] = {}
            try:
                for mode in order:
                    folder = base / f"{mode}-{round_}"
                    stack = CONTAINER_MODES[mode](folder, images) if mode in CONTAINER_MODES else HOST_MODES[mode](folder, python)
                    stacks[mode] = stack
                    started = time.monotonic()
                    stack.start()
                    print(f"  round {round_ + 1} {mode}: up in {time.monotonic() - started:.1f} s", flush=True)
                time.sleep(SETTLE_SECONDS)
                figures = measure(stacks, args, source)
            except BaseException:
                for mode, stack in stacks.items():
                    print(f"  {mode}'s logs:\n{stack.logs()}", file=sys.stderr)
                raise
            finally:
                for stack in stacks.values():
                    stack.stop()
            for mode in order:
                results[mode].append(figures[mode])
                shown = ", ".join(f"{k}={v:.1f}" for k, v in figures[mode].items())
                print(f"  round {round_ + 1} {mode}: {shown}", flush=True)
            for stack in stacks.values():
                shutil.rmtree(stack.base, ignore_errors=True)
        medians = report(results)
        out = ROOT / "bench" / "results" / f"container-{time.strftime('%Y%m%dT%H%M%S')}.json"
        out.parent.mkdir(exist_ok=True)
        out.write_text(json.dumps({"args": vars(args), "rounds": results, "medians": medians}, indent=2) + "\n")
        print(f"\nwritten to {out.relative_to(ROOT)}")
        return 0
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
