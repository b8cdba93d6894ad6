"""Fixtures for the container tests: the compose stack on the real Docker engine, started
with ``make docker-up`` under a compose project of the tests' own (so a developer's stack of
this checkout is left alone) and removed with its volumes at the end.

``e2e/`` holds the tests that ``make docker-test`` runs from the test-runner container; on
the host they are not collected."""

from __future__ import annotations

import os

import pytest

from tests.container.dockerstack import DockerStack, engine_problem

collect_ignore = [] if os.environ.get("AUTEUR_E2E_WEB_URL") else ["e2e"]


@pytest.fixture(scope="session")
def docker_stack(tmp_path_factory):
    problem = engine_problem()
    if problem:
        pytest.fail(f"the container tests need a Docker engine: {problem} (make test starts dockerd as root)")
    stack = DockerStack(tmp_path_factory.mktemp("docker"))
    stack.remove()  # what an interrupted earlier run left
    try:
        yield stack
    finally:
        stack.remove()


@pytest.fixture
def stack(docker_stack):
    """The stack, up and healthy (started if a test before took it down)."""
    docker_stack.ensure_up()
    return docker_stack
