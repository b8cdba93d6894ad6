"""The compose stack on the real Docker engine, end to end, driven from the host.

The story's container script; first-run ownership; the project make targets through the
stack; the e2e container (``make docker-test``); restarts and crashes; recreation; network
partitions; memory limits under a large upload; graceful shutdown; health. Every
repository is judged by the image's real git and git-lfs.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time

import httpx
import pytest
from helpers import Events, wait_for

from auteur.names import project_id
from tests.container.dockerstack import API, ROOT, WEB, DockerStack, Load

pytestmark = pytest.mark.timeout(900)


def unique(prefix: str) -> str:
    return f"{prefix} {secrets.token_hex(3)}"


def test_the_story_script_all_services_up_and_healthy(docker_stack: DockerStack):
    took = docker_stack.up()
    print(f"make docker-up: all services healthy in {took:.1f} s")
    ps = docker_stack.compose("ps").stdout
    for service in ("redis", "controller", "worker", "backend", "frontend"):
        row = next((line for line in ps.splitlines() if f"-{service}-1" in line), "")
        assert "(healthy)" in row, f"{service} not healthy in docker compose ps:\n{ps}"
    assert subprocess.run(["curl", "-fsS", "-o", "/dev/null", WEB + "/"]).returncode == 0
    assert subprocess.run(["curl", "-fsS", "-o", "/dev/null", API + "/health"]).returncode == 0
    for service in ("backend", "worker"):
        listing = docker_stack.compose("exec", "-T", service, "ls", "-la", "/workspace").stdout
        assert ".auteur" in listing, listing
    assert docker_stack.compose("exec", "-T", "redis", "redis-cli", "ping").stdout.strip() == "PONG"
    # Debian's docker-compose 1.29 (v1) reads the same running stack: ps, exec, port.
    v1 = ["docker-compose", "-f", str(ROOT / "docker-compose.yml")]
    ps1 = subprocess.run([*v1, "ps"], cwd=ROOT, env=docker_stack.env, capture_output=True, text=True).stdout
    assert ps1.count("(healthy)") == 5, ps1
    ls1 = subprocess.run([*v1, "exec", "-T", "backend", "ls", "/workspace"], cwd=ROOT, env=docker_stack.env, capture_output=True, text=True)
    assert ls1.returncode == 0, ls1.stderr
    port1 = subprocess.run([*v1, "port", "backend", "8000"], cwd=ROOT, env=docker_stack.env, capture_output=True, text=True).stdout
    assert port1.strip().endswith(":8000"), port1
    code, body = docker_stack.health()
    assert (code, body["status"], body["redis"], body["worker"], body["controller"]) == (200, "healthy", "connected", "running", "running")
    done = docker_stack.make("docker-health")
    assert "All services healthy" in done.stdout
    # Every Auteur service runs as uid 10001, not as root (docker-init, the reaper at pid 1, and
    # the engine's health probes stay root).
    for service in ("controller", "worker", "backend", "frontend"):
        command = " ".join(json.loads(docker_stack.inspect(service, "{{json .Config.Cmd}}")))
        top = docker_stack.docker("top", docker_stack.container(service), "-o", "pid,uid,args")
        rows = [line.split(None, 2)[1:] for line in top.splitlines()[1:]]
        uids = [uid for uid, args in rows if args == command]  # the worker's scheduler is a second one
        assert uids and set(uids) == {"10001"}, f"{service}:\n{top}"


def test_the_first_run_needs_no_ownership_fix_and_spec_files_are_shared(stack: DockerStack):
    specs = stack.specs  # made by the host's user (root here); the entrypoint handed the folder to uid 10001
    name = unique("First Run")
    created = stack.create(name)
    assert created["status"] == "ready"
    path = specs / f"{name}.yaml"
    assert oct(path.stat().st_mode & 0o777) == "0o644", "a spec file the API wrote is readable on the host"
    assert path.read_text().startswith("name: ")

    dropped = unique("Dropped")  # a spec written on the host, by hand, as root
    (specs / f".{dropped}.tmp").write_text(f"name: {dropped}\nquality: draft\n")
    os.rename(specs / f".{dropped}.tmp", specs / f"{dropped}.yaml")
    stack.wait_ready([project_id(dropped)])
    stack.assert_clean(dropped)
    for key in (project_id(name), project_id(dropped)):
        assert httpx.delete(f"{API}/api/v1/projects/{key}", params={"purge": "true"}, timeout=60).status_code == 204


def test_project_make_targets_run_through_the_stack(stack: DockerStack):
    name = unique("Made")
    key = project_id(name)
    out = stack.make("project-create", f"NAME={name}").stdout
    assert "Project created" in out, out
    spec = stack.specs / f"{name}.yaml"
    assert spec.stat().st_uid == 10001, "written inside the stack by its user, not by root on the host"
    assert name in stack.make("project-list").stdout
    assert stack.project(key)["status"] == "ready"
    stack.assert_clean(name)
    assert stack.make("reconcile", f"NAME={name}").returncode == 0
    stack.make("project-delete", f"NAME={name}")
    wait_for(lambda: stack.project(key) is None, 60, 0.5, what="the project deleted")
    stack.make("project-purge", f"NAME={name}")


def test_a_read_only_specs_folder_is_a_clear_503(stack: DockerStack, tmp_path):
    """A service whose /specs the volume will not let it write: /health says so, a create gets 503."""
    specs = tmp_path / "ro-specs"
    specs.mkdir()
    container = stack.docker("run", "-d", "--rm", "-p", "127.0.0.1:18765:8000", "-v", f"{specs}:/specs:ro",
                             "-v", f"{stack.name}_workspace:/workspace", "-e", "AUTEUR_API_PORT=8000", "auteur:latest",
                             "python", "-m", "api").strip()  # fmt: skip
    try:
        api = "http://127.0.0.1:18765"
        wait_for(lambda: _answers(api + "/health/live"), 60, 0.3, what="the read-only API up")
        answer = httpx.get(api + "/health", timeout=30)
        assert answer.status_code == 503 and answer.json()["specs"] == "not writable", answer.text
        created = httpx.post(api + "/api/v1/projects", json={"name": "Nowhere"}, timeout=30)
        assert created.status_code == 503, created.text
        assert "/specs is read-only" in created.json()["error"]["message"]
        assert not list(specs.iterdir())
    finally:
        stack.docker("rm", "-f", container, check=False)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def test_an_upload_is_ingested_by_the_worker_container_into_lfs(stack: DockerStack):
    name = unique("Upload")
    key = project_id(name)
    stack.create(name)
    events = Events(API.replace("http://", "ws://") + "/api/v1/events")
    try:
        data = os.urandom(2 << 20)
        upload = stack.upload(key, "take 1.wav", data)
        assert upload["oid"] == hashlib.sha256(data).hexdigest()
        stack.wait_ingested([upload["upload_id"]])
        events.wait(lambda f: f["type"] == "upload.completed" and f["data"].get("upload_id") == upload["upload_id"], 30)
    finally:
        events.close()
    assert f"Processing upload for project {key}" in stack.logs("worker")
    pointer = stack.git(name, "show", "HEAD:assets/audio/take 1.wav")
    assert pointer.startswith("version https://git-lfs") and upload["oid"] in pointer
    stack.assert_clean(name)
    assert httpx.delete(f"{API}/api/v1/projects/{key}", timeout=60).status_code == 204
    assert not stack.exists(name), "the folder is gone from the workspace"


def test_docker_test_runs_the_story_from_the_test_runner_container(stack: DockerStack):
    done = stack.make("docker-test", check=False, timeout=900)
    assert done.returncode == 0, f"make docker-test:\n{done.stdout[-6000:]}\n{done.stderr[-3000:]}"
    assert " passed" in done.stdout
    logs = stack.logs("worker")
    assert "Processing upload for project story-" in logs, "\n".join(line for line in logs.splitlines() if "rocessing" in line)


def test_a_restarted_backend_and_a_crashed_controller_recover(stack: DockerStack):
    names = [unique("Kept") for _ in range(3)]
    for name in names:
        stack.create(name)
    stack.compose("restart", "backend")
    wait_for(lambda: _answers(API + "/health/live"), 60, 0.3, what="the backend back")
    listed = {p["id"]: p["status"] for p in httpx.get(API + "/api/v1/projects", timeout=30).json()}
    assert all(listed.get(project_id(n)) == "ready" for n in names), listed

    # A crash, not a manual stop: kill -9 of the container's main process from the host.
    before = int(stack.inspect("controller", "{{.RestartCount}}"))
    pid = int(stack.inspect("controller", "{{.State.Pid}}"))
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: int(stack.inspect("controller", "{{.RestartCount}}")) > before, 60, 0.3, what="the restart policy")
    wait_for(lambda: stack.states()["controller"] == "healthy", 90, 0.5, what="the controller healthy again")
    after = unique("After Crash")
    stack.create(after)
    for name in [*names, after]:
        assert stack.project(project_id(name))["status"] == "ready"
        stack.assert_clean(name)


@pytest.mark.parametrize("service", ["worker", "redis"])
def test_a_network_partition_of_10_s_loses_nothing(stack: DockerStack, service: str):
    network = f"{stack.name}_default"
    container = stack.container(service)
    events = Events(API.replace("http://", "ws://") + "/api/v1/events")
    load = Load(unique(f"Cut {service}"))
    load.start()
    try:
        wait_for(lambda: len(load.uploads) >= 1, 60, 0.2, what="load under way")
        stack.docker("network", "disconnect", network, container)
        try:
            time.sleep(10)
        finally:
            stack.docker("network", "connect", "--alias", service, network, container)
        reconnected = len(load.uploads)
        wait_for(lambda: len(load.uploads) >= reconnected + 2, 90, 0.2, what="uploads acknowledged after the partition")
    finally:
        load.stopping.set()
        load.join(90)
    try:
        assert not load.errors, load.errors
        keys = [project_id(n) for n in load.created]
        stack.wait_ready(keys, 120)
        stack.wait_ingested(load.uploads, 180)
        for key in keys:
            events.wait(lambda f, key=key: f["type"].startswith("project.") and f["project"].get("id") == key, 60, f"events of {key}")
        for upload in load.uploads:
            events.wait(lambda f, u=upload: f["type"] == "upload.completed" and f["data"].get("upload_id") == u, 60, f"{upload} done")
    finally:
        events.close()
    for name in load.created[:3]:
        stack.assert_clean(name)


def cgroup_memory(container: str, name: str) -> int:
    return int(open(f"/sys/fs/cgroup/memory/docker/{container}/{name}").read())


def test_an_upload_larger_than_the_memory_limit_stays_within_it(stack: DockerStack, tmp_path):
    name = unique("Big")
    key = project_id(name)
    stack.create(name)
    big = tmp_path / "big.mov"
    with open(big, "wb") as out:
        for _ in range(768):
            out.write(os.urandom(1 << 20))
    ids = {s: stack.docker("inspect", "-f", "{{.Id}}", stack.container(s)).strip() for s in ("backend", "worker")}
    limits = {s: cgroup_memory(i, "memory.limit_in_bytes") for s, i in ids.items()}
    peak_rss = dict.fromkeys(ids, 0)
    sampling = threading.Event()

    def sample() -> None:
        while not sampling.is_set():
            for service, cid in ids.items():
                stat = dict(line.split() for line in open(f"/sys/fs/cgroup/memory/docker/{cid}/memory.stat"))
                peak_rss[service] = max(peak_rss[service], int(stat["total_rss"]))
            time.sleep(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        with open(big, "rb") as body:
            upload = stack.upload(key, "big.mov", body, asset_type="renders")
        stack.wait_ingested([upload["upload_id"]], 600)
    finally:
        sampling.set()
        sampler.join()
    for service, cid in ids.items():
        peak = cgroup_memory(cid, "memory.max_usage_in_bytes")
        print(
            f"{service}: limit {limits[service] >> 20} MiB, peak RSS {peak_rss[service] >> 20} MiB, "
            f"peak usage with page cache {peak >> 20} MiB"
        )
        assert limits[service] == 512 << 20
        assert stack.inspect(service, "{{.HostConfig.NanoCpus}}") == "2000000000", "the compose file's CPU limit is applied"
        assert peak_rss[service] < limits[service] // 2
        assert stack.inspect(service, "{{.State.OOMKilled}}") == "false"
    assert stack.git(name, "lfs", "ls-files").count("big.mov") == 1
    stack.assert_clean(name)


def test_a_graceful_stop_during_creates_and_an_upload_loses_nothing(stack: DockerStack):
    name = unique("Stopped")
    key = project_id(name)
    stack.create(name)
    answers: dict[str, httpx.Response] = {}

    def upload() -> None:
        try:
            answers["upload"] = httpx.post(f"{API}/api/v1/projects/{key}/assets", params={"asset_type": "renders"},
                                           files=[("files", ("take.mov", os.urandom(64 << 20)))], timeout=120)  # fmt: skip
        except httpx.HTTPError:
            pass

    load = Load(unique("Stopping"))
    load.start()
    wait_for(lambda: len(load.created) >= 2, 60, 0.2, what="creates under way")
    uploader = threading.Thread(target=upload, daemon=True)
    uploader.start()
    time.sleep(0.5)
    stack.compose("stop", timeout=120)
    load.stopping.set()
    load.join(90)
    uploader.join(120)
    stack.up()
    keys = [project_id(n) for n in load.created]  # every create that was acknowledged
    stack.wait_ready(keys, 120)
    stack.wait_ready([key])
    if "upload" in answers and answers["upload"].status_code == 200:
        upload_id = answers["upload"].json()["uploads"][0]["upload_id"]

        def finished() -> dict | None:
            record = stack.upload_record(upload_id)
            return record if record and record["status"] in ("completed", "failed") else None

        record = wait_for(finished, 180, 0.5, what="the upload ingested or failed")
        assert record["status"] == "completed" or record.get("error"), record
    stack.wait_ingested(load.uploads, 180)
    for name in load.created[:3]:
        stack.assert_clean(name)


def test_health_names_a_stopped_worker(stack: DockerStack):
    stack.compose("stop", "worker")
    try:

        def degraded() -> dict | None:
            code, body = stack.health()
            return body if code == 200 and body["status"] == "degraded" else None

        body = wait_for(degraded, 60, 0.5, what="/health degraded")
        assert body["worker"] == "not running" and "worker" in body["failing"], body
        done = stack.make("docker-health", check=False)
        assert done.returncode != 0 and "Not healthy: worker (exited)" in done.stdout, done.stdout  # make reports 2
        assert "All services healthy" not in done.stdout
        direct = subprocess.run([sys.executable, "-m", "launcher.docker", "health"], cwd=ROOT, env=stack.env, capture_output=True,
                                text=True)  # fmt: skip
        assert direct.returncode == 1 and "worker (exited)" in direct.stdout, direct.stdout
    finally:
        stack.compose("start", "worker")
    wait_for(stack.healthy, 90, 0.5, what="all healthy again")


def test_logs_and_restart_targets(stack: DockerStack):
    out = stack.make("docker-logs").stdout
    for service in ("controller", "worker", "backend", "frontend", "redis"):
        assert f"{service}-1" in out, f"no {service} lines in make docker-logs"
    started = {s: stack.inspect(s, "{{.State.StartedAt}}") for s in ("backend", "worker")}
    stack.make("docker-restart")
    assert all(stack.inspect(s, "{{.State.StartedAt}}") != t for s, t in started.items())
    wait_for(stack.healthy, 90, 0.5, what="healthy after make docker-restart")


def test_projects_history_and_lfs_objects_survive_recreation(stack: DockerStack):
    name = unique("Survivor")
    key = project_id(name)
    stack.create(name)
    data = os.urandom(1 << 20)
    upload = stack.upload(key, "scene.wav", data)
    stack.wait_ingested([upload["upload_id"]])
    head = stack.git(name, "rev-parse", "HEAD").strip()
    projects = {p["id"] for p in httpx.get(API + "/api/v1/projects", timeout=30).json()}
    old = stack.container("controller")
    stack.make("docker-down")
    assert stack.compose("ps", "-a", "-q").stdout.strip() == "", "make docker-down removes the containers"
    warm = stack.up()
    print(f"warm make docker-up after docker-down: all services healthy in {warm:.1f} s")
    assert stack.container("controller") != old, "the containers were recreated"
    assert {p["id"] for p in httpx.get(API + "/api/v1/projects", timeout=30).json()} >= projects
    assert stack.git(name, "rev-parse", "HEAD").strip() == head
    assert stack.exec("worker", "sha256sum", f"/workspace/{name}/assets/audio/scene.wav").split()[0] == hashlib.sha256(data).hexdigest()
    oid = upload["oid"]
    assert stack.exists(f"{name}/.git/lfs/objects/{oid[:2]}/{oid[2:4]}/{oid}")
    stack.assert_clean(name)
    stack.make("docker-down")
