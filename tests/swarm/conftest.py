"""The Swarm stack on the real engine: ``make swarm-up`` under a stack name of the tests' own,
on a one-node swarm (initialised here when the engine was in none, and left again at the end).
It publishes the same ports as the compose tests (8000, 3000): their stack (``tests/container``,
which runs before this package) is removed first."""

from __future__ import annotations

import subprocess

import pytest

from tests.container.dockerstack import DockerStack, engine_problem
from tests.swarm.swarmstack import SwarmStack


@pytest.fixture(scope="module")
def swarm(tmp_path_factory):
    problem = engine_problem()
    if problem:
        pytest.fail(f"the Swarm tests need a Docker engine: {problem} (make test starts dockerd as root)")
    state = subprocess.run(["docker", "info", "--format", "{{.Swarm.LocalNodeState}}"], capture_output=True, text=True).stdout.strip()
    DockerStack(tmp_path_factory.mktemp("compose")).remove()
    stack = SwarmStack(tmp_path_factory.mktemp("swarm"))
    stack.remove()
    try:
        stack.make("swarm-up")
        yield stack
    finally:
        stack.remove()
        if state == "inactive":  # this run made the swarm: leave it
            subprocess.run(["docker", "swarm", "leave", "--force"], capture_output=True, timeout=60)
