"""The stack on a one-node Docker Swarm (``make swarm-up``): the story's flow through the proxy,
scaling under a request loop, the controller's fail-over, a rolling update with no failed request
and no lost event, and ``make swarm-down`` keeping the workspace. In this order: each test leaves
the stack as the next one expects it (converged, default replicas)."""

from __future__ import annotations

import subprocess
import time

import httpx
from helpers import wait_for

from auteur.names import project_id
from tests.swarm.swarmstack import API, EventFollower, RequestLoop


def test_the_flow_through_the_proxy(swarm):
    assert swarm.make("swarm-status").stdout.count("running") == 6
    for service, wanted in {"backend": 2, "worker": 2, "controller": 2, "proxy": 1, "redis": 1, "frontend": 1}.items():
        assert swarm.replicas(service) == wanted, service
    health = httpx.get(API + "/health", timeout=30).json()
    assert health["status"] == "healthy", health
    follower = EventFollower()
    follower.start()
    try:
        wait_for(lambda: follower.connections >= 1, what="the event WebSocket through the proxy")
        project = swarm.create("Swarm Flow")
        assert project["status"] == "ready"
        render = b"\x00RENDER" * 200_000  # 1.4 MB: a .mov goes to LFS whatever its size
        answer = httpx.post(f"{API}/api/v1/projects/swarm-flow/assets", params={"asset_type": "renders"},
                            files=[("files", ("final.mov", render))], timeout=120)  # fmt: skip
        assert answer.status_code == 200, answer.text
        upload_id = answer.json()["uploads"][0]["upload_id"]
        wait_for(lambda: any(e["type"] == "upload.completed" and e["data"].get("upload_id") == upload_id for e in list(follower.events)),
                 timeout=120, what="the upload ingested and committed by a worker, announced through Redis")  # fmt: skip
        assert swarm.git("Swarm Flow", "lfs", "ls-files", "--name-only").split() == ["outputs/renders/final.mov"]
        swarm.assert_clean("Swarm Flow")
        downloaded = httpx.get(f"{API}/api/v1/projects/swarm-flow/assets/outputs/renders/final.mov", timeout=60)
        assert downloaded.content == render
        assert httpx.delete(f"{API}/api/v1/projects/swarm-flow", timeout=30).status_code == 204
        wait_for(lambda: swarm.project("swarm-flow") is None, timeout=60, what="the project deleted")
        assert "Swarm Flow" not in swarm.exec("worker", "ls", "/workspace").split("\n")
    finally:
        follower.stop()


def test_scaling_backends_and_workers_under_a_request_loop(swarm):
    loop = RequestLoop("scale")
    loop.start()
    try:
        for counts in (["backend=3", "worker=3"], ["backend=2", "worker=2"]):
            swarm.make("swarm-scale", f"SCALE={' '.join(counts)}")
            for item in counts:
                service, _, n = item.partition("=")
                wait_for(lambda s=service, n=int(n): swarm.replicas(s) == n, timeout=60, what=f"{item}")
            time.sleep(3)  # requests keep flowing over the new set of replicas
    finally:
        loop.stop()
    assert loop.requests > 100, loop.requests
    assert not loop.failures, loop.failures[:10]
    swarm.wait_ready(loop.created, timeout=120)


def test_killing_the_active_controller_hands_over_within_15_s(swarm):
    leader = swarm.leader()
    controllers = swarm.containers("controller")
    assert leader in controllers and len(controllers) == 2, (leader, controllers)
    (standby,) = [c for c in controllers if c != leader]
    swarm.docker("kill", "-s", "KILL", leader)
    killed = time.monotonic()
    during = []
    for n in range(3):  # made while nobody leads: the API writes their specs, accepted, not ready yet
        answer = httpx.post(API + "/api/v1/projects", json={"name": f"gap {n}", "process_async": True}, timeout=30)
        assert answer.status_code in (201, 202), answer.text
        during.append(answer.json()["id"])
    # The standby, or the replica Swarm starts in the killed one's place if it asks first once the
    # lease expires: either way another controller leads.
    new = wait_for(lambda: (held := swarm.leader()) not in (None, leader) and held, timeout=30, interval=0.1,
                   what="another controller takes the lease")  # fmt: skip
    assert new == standby or new not in controllers, (new, controllers)
    took = time.monotonic() - killed
    assert took <= 15.5, f"the standby took over {took:.1f} s after the kill"
    swarm.wait_ready(during, timeout=60)
    for key in during:
        swarm.assert_clean(swarm.project(key)["folder"])
    wait_for(lambda: swarm.replicas("controller") == 2, timeout=60, what="Swarm replaces the killed controller")


def test_a_rolling_update_of_the_backend_fails_no_request_and_loses_no_event(swarm):
    # A new image tag (a new image: its own label), as a release would build.
    build = ["docker", "build", "-q", "-t", "auteur:rollout", "--label", f"auteur.rollout={time.time_ns()}", "-"]
    subprocess.run(build, input="FROM auteur:latest\n", text=True, check=True, capture_output=True, timeout=120)
    before = set(swarm.containers("backend"))
    follower = EventFollower()
    follower.start()
    loop = RequestLoop("rollout", create_every=10)
    try:
        wait_for(lambda: follower.connections >= 1, what="events followed")
        loop.start()
        swarm.docker("service", "update", "--image", "auteur:rollout", "--update-order", "start-first",
                     "--update-parallelism", "1", swarm.service("backend"), timeout=600)  # fmt: skip
        after = set(swarm.containers("backend"))
        assert len(after) == 2 and not before & after, (before, after)
        time.sleep(2)
    finally:
        loop.stop()
    try:
        assert loop.requests > 100, loop.requests
        assert not loop.failures, loop.failures[:10]
        swarm.wait_ready(loop.created, timeout=120)
        wait_for(lambda: all(follower.ready(key) for key in loop.created), timeout=60,
                 what="a ready event for every project made during the update, across reconnections")  # fmt: skip
        ids = [e["id"] for e in follower.events if e["id"]]
        assert len(ids) == len(set(ids)), "an event came twice"
    finally:
        follower.stop()
    assert follower.connections >= 2, "the update must have closed the event WebSocket at least once"


def test_swarm_down_keeps_the_workspace_volume(swarm):
    key = project_id(swarm.create("Kept Across Stacks")["name"])
    swarm.make("swarm-down")
    assert not swarm.docker("ps", "-q", "--filter", f"label=com.docker.stack.namespace={swarm.name}").split()
    volumes = swarm.docker("volume", "ls", "-q").split()
    assert f"{swarm.name}_workspace" in volumes
    swarm.make("swarm-up")
    kept = swarm.project(key)
    assert kept is not None and kept["status"] == "ready", kept
    swarm.assert_clean("Kept Across Stacks")
