"""Reads ``docker-compose.yml`` and maps its services onto this machine.

Called by ``launcher.stack`` (``make stack``). Each service keeps its command,
environment, health check, restart policy and stop grace period from the file;
what only makes sense inside containers is translated: the named volume becomes
``AUTEUR_WORKSPACE``, ``./specs`` becomes ``AUTEUR_SPECS``, the container ports
become the usual variables, service host names become ``127.0.0.1``, ``python``
becomes this interpreter, and ``redis`` becomes a local ``redis-server`` (or is
left out when ``REDIS_URL`` names a Redis already running). ``backend`` gets a
second replica on the next port by default; any service can be scaled.
"""

from __future__ import annotations

import os
import shlex
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

API_CONTAINER_PORT = 8000
WEB_CONTAINER_PORT = 3000


@dataclass
class Service:
    """One process of the stack, as the runner starts, watches and stops it."""

    name: str
    command: list[str]
    env: dict[str, str]
    health: list[str] | None
    depends_on: dict[str, str] = field(default_factory=dict)
    grace: float = 10.0
    restart: str = "no"
    health_interval: float = 10.0


@dataclass
class Layout:
    """Where the stack's services find their volume, specs, Redis and ports here."""

    workspace: Path
    specs: Path
    redis_url: str | None
    api_port: int
    web_port: int
    redis_dir: Path | None = None
    scale: dict[str, int] = field(default_factory=lambda: {"backend": 2})


def duration(text: object, default: float) -> float:
    """Compose durations: ``30s``, ``1m``, ``500ms``, ``1m30s``, or a plain number of seconds."""
    if text is None or text == "":
        return default
    value, number, total = str(text).strip(), "", 0.0
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, "us": 1e-6}
    i = 0
    while i < len(value):
        char = value[i]
        if char.isdigit() or char == ".":
            number += char
            i += 1
            continue
        unit = value[i : i + 2] if value[i : i + 2] in ("ms", "us") else char
        total += float(number) * units[unit]
        number, i = "", i + len(unit)
    return total + (float(number) if number else 0.0)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _local(command: list[str]) -> list[str]:
    """``python`` in the compose file is this interpreter (the project's virtualenv)."""
    if command and command[0] in ("python", "python3"):
        return [sys.executable, *command[1:]]
    return command


def _health(body: dict[str, Any]) -> list[str] | None:
    test = (body.get("healthcheck") or {}).get("test")
    if not test or test == ["NONE"]:
        return None
    if isinstance(test, str):
        return ["sh", "-c", test]
    if test[0] == "CMD-SHELL":
        return ["sh", "-c", test[1]]
    return _local(list(test[1:] if test[0] == "CMD" else test))


def _ports(part: str, api_port: int, web_port: int) -> str:
    """Container ports in a health check become the ports this replica really listens on."""
    return part.replace(f":{API_CONTAINER_PORT}/", f":{api_port}/").replace(f":{WEB_CONTAINER_PORT}/", f":{web_port}/")


def _redis(layout: Layout, url: str, grace: float, restart: str) -> Service:
    port = url.rsplit(":", 1)[1].split("/")[0]
    command = ["redis-server", "--port", port, "--bind", "127.0.0.1", "--save", ""]
    if layout.redis_dir is not None:  # like the compose file: an append-only file survives restarts
        layout.redis_dir.mkdir(parents=True, exist_ok=True)
        command += ["--appendonly", "yes", "--dir", str(layout.redis_dir)]
    else:
        command += ["--appendonly", "no"]
    return Service("redis", command, {}, ["redis-cli", "-p", port, "ping"], {}, grace, restart, 1.0)


def plan(compose: Path, layout: Layout) -> list[Service]:
    """The processes to start, in the file's order (dependencies come first there)."""
    spec = yaml.safe_load(compose.read_text())
    redis_url = layout.redis_url or f"redis://127.0.0.1:{free_port()}/0"
    services: list[Service] = []
    for name, body in spec["services"].items():
        grace = duration(body.get("stop_grace_period"), 10.0)
        restart = str(body.get("restart", "no"))
        if name == "redis":
            if layout.redis_url is None:  # an existing Redis is used as it is
                services.append(_redis(layout, redis_url, grace, restart))
            continue
        env = {k: str(v) for k, v in (body.get("environment") or {}).items()}
        env.update(
            REDIS_URL=redis_url,
            AUTEUR_WORKSPACE=str(layout.workspace),
            AUTEUR_SPECS=str(layout.specs),
            AUTEUR_API_PORT=str(layout.api_port),
            AUTEUR_WEB_PORT=str(layout.web_port),
            AUTEUR_API_URL=os.environ.get("AUTEUR_API_URL", f"http://localhost:{layout.api_port}"),
            AUTEUR_API_INTERNAL_URL=f"http://127.0.0.1:{layout.api_port}",
        )
        depends = {dep: (cond or {}).get("condition", "service_started") for dep, cond in _depends(body).items()}
        command = body.get("command")
        command = _local(shlex.split(command) if isinstance(command, str) else list(command or []))
        health, interval = _health(body), duration((body.get("healthcheck") or {}).get("interval"), 10.0)
        for replica in range(1, max(1, layout.scale.get(name, 1)) + 1):
            replica_env = dict(env)
            if name == "backend":
                replica_env["AUTEUR_API_PORT"] = str(layout.api_port + replica - 1)
            port = int(replica_env["AUTEUR_API_PORT"])
            checks = [_ports(part, port, layout.web_port) for part in health] if health else None
            label = name if replica == 1 else f"{name}-{replica}"
            services.append(Service(label, command, replica_env, checks, depends, grace, restart, interval))
    return services


def _depends(body: dict[str, Any]) -> dict[str, dict[str, str] | None]:
    depends = body.get("depends_on") or {}
    if isinstance(depends, list):  # the short form: started, not healthy
        return {name: None for name in depends}
    return dict(depends)
