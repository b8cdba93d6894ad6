"""The stack on Docker Swarm: ``make swarm-up``, ``swarm-down``, ``swarm-status``, ``swarm-scale``.

    python -m launcher.swarm up                  # images, a one-node swarm if none, deploy, wait until converged
    python -m launcher.swarm down                # remove the stack; the workspace and Redis volumes stay
    python -m launcher.swarm status              # each service's replicas and the API's /health through the proxy
    python -m launcher.swarm scale backend=3 ... # docker service scale, waiting until converged

The stack is ``docker-compose.yml`` with ``docker-stack.yml`` on top (Swarm's own keys: replicas,
update and restart policies, ``endpoint_mode: dnsrr``, the proxy and its published ports),
deployed by Docker itself: ``docker stack deploy --resolve-image never -c … -c docker-stack.yml``.
One thing a second compose file cannot do is remove a list entry, and the API's and the
gallery's published ports must go (the proxy publishes them; a replica cannot hold a host-mode
port a second replica on the same node also wants). So the first file is
``.swarm-compose.yml``: docker-compose.yml as YAML, less those ports and the keys Swarm ignores
(``build``, ``restart``), written here at every deploy. Nothing else is rewritten: Docker reads,
merges and interpolates both files.

The images are the compose stack's (``launcher.images``, built without a registry) plus the
proxy's (Debian's haproxy). ``AUTEUR_STACK`` names the stack (default ``auteur``: its volumes
are ``auteur_workspace`` and ``auteur_redis-data``). ``AUTEUR_STACK_FILES`` adds a studio's own
stack files after those two (comma-separated; e.g. the workspace on NFS, placement constraints:
README, "Running on several machines").
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from launcher import images
from launcher.docker import engine_problem

ROOT = images.ROOT
BASE_FILE = ROOT / "docker-compose.yml"
STACK_FILE = ROOT / "docker-stack.yml"
GENERATED = ROOT / ".swarm-compose.yml"
HAPROXY_CFG = ROOT / "deploy" / "swarm" / "haproxy.cfg"
PROXIED = ("backend", "frontend")  # their ports are the proxy's
IGNORED_BY_SWARM = ("build", "restart")


def stack_name() -> str:
    return os.environ.get("AUTEUR_STACK") or "auteur"


def docker(*args: str, check: bool = True, timeout: float = 120) -> str:
    """``launcher.images.docker``'s output as text."""
    return images.docker(*args, check=check, timeout=timeout).stdout.decode()


def swarm_compose(base: dict[str, Any]) -> dict[str, Any]:
    """docker-compose.yml as Swarm's first file: the proxied services' ports and the keys Swarm ignores removed."""
    services = {}
    for name, service in base["services"].items():
        service = {k: v for k, v in service.items() if k not in IGNORED_BY_SWARM}
        if name in PROXIED:
            service.pop("ports", None)
        services[name] = service
    top = {k: v for k, v in base.items() if not k.startswith("x-") and k != "services"}
    return {**top, "services": services}


def write_compose() -> Path:
    base = yaml.safe_load(BASE_FILE.read_text())
    text = "# Written by launcher/swarm.py from docker-compose.yml at each `make swarm-up`: do not edit.\n"
    text += yaml.safe_dump(swarm_compose(base), sort_keys=False)
    tmp = GENERATED.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, GENERATED)
    return GENERATED


def ensure_swarm() -> None:
    """A one-node swarm, made here if this engine is in none."""
    state = docker("info", "--format", "{{.Swarm.LocalNodeState}}").strip()
    if state == "active":
        return
    if state != "inactive":
        raise SystemExit(f"this engine's swarm is {state!r}; `docker swarm leave --force` or fix it first")
    done = subprocess.run(["docker", "swarm", "init"], capture_output=True, text=True, timeout=60)
    if done.returncode and "advertise" in done.stderr:  # several addresses: take the default route's
        route = subprocess.run(["ip", "-4", "route", "get", "1.1.1.1"], capture_output=True, text=True).stdout.split()
        address = route[route.index("src") + 1] if "src" in route else "127.0.0.1"
        done = subprocess.run(["docker", "swarm", "init", "--advertise-addr", address], capture_output=True, text=True, timeout=60)
    if done.returncode:
        raise SystemExit(f"docker swarm init: {done.stderr.strip()}")
    print("Initialised a one-node swarm on this engine")


def deploy_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "MAKEFLAGS"}
    env.update(images.ensure())  # the base images chosen, as .env says
    env["AUTEUR_PROXY_IMAGE"] = images.ensure_proxy()
    specs = Path(env.get("AUTEUR_SPECS") or ROOT / "specs").absolute()
    specs.mkdir(parents=True, exist_ok=True)  # made by this user, not by the engine as root
    env["AUTEUR_SPECS"] = str(specs)
    env["AUTEUR_HAPROXY_CFG_HASH"] = hashlib.sha256(HAPROXY_CFG.read_bytes()).hexdigest()[:12]
    return env


def services() -> dict[str, dict[str, Any]]:
    """The stack's services: name (without the stack's prefix) -> mode, replicas running and wanted."""
    out = docker("service", "ls", "--filter", f"label=com.docker.stack.namespace={stack_name()}", "--format", "{{json .}}")
    found = {}
    for line in out.splitlines():
        row = json.loads(line)
        running, _, wanted = row["Replicas"].partition("/")
        name = row["Name"].removeprefix(stack_name() + "_")
        found[name] = {"mode": row["Mode"], "running": int(running), "wanted": int(wanted.split()[0] or 0)}
    return found


def converged(found: dict[str, dict[str, Any]]) -> bool:
    return bool(found) and all(s["running"] == s["wanted"] and s["wanted"] > 0 for s in found.values())


def api_url() -> str:
    return f"http://127.0.0.1:{os.environ.get('AUTEUR_API_PORT', '8000')}"


def api_health() -> str | None:
    """The API's /health status through the proxy, or None when it does not answer."""
    try:
        status = httpx.get(api_url() + "/health", timeout=5).json().get("status")
    except (httpx.HTTPError, ValueError):
        return None
    return str(status) if status else None


def wait_converged(timeout: float = 300) -> float:
    """Until every service runs all its replicas (healthy: Swarm counts a task with a health check
    as running once it passed) and the API answers through the proxy; the seconds it took."""
    started = time.monotonic()
    shown = ""
    while True:
        found = services()
        line = ", ".join(f"{n} {s['running']}/{s['wanted']}" for n, s in sorted(found.items()))
        if line != shown:
            print(f"  {line}", flush=True)
            shown = line
        if converged(found) and api_health() is not None:
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise SystemExit(f"the stack did not converge in {timeout:.0f} s: {line}\n{problems()}")
        time.sleep(1)


def problems() -> str:
    """The last error of each task that is not running (what `docker service ps` shows)."""
    out = docker("stack", "ps", stack_name(), "--no-trunc", "--filter", "desired-state=running",
                 "--format", "{{.Name}} {{.CurrentState}} {{.Error}}", check=False)  # fmt: skip
    return "\n".join(line for line in out.splitlines() if "Running" not in line)


def up() -> int:
    started = time.monotonic()
    problem = engine_problem()
    if problem:
        raise SystemExit(problem)
    env = deploy_env()
    built = time.monotonic()
    ensure_swarm()
    generated = write_compose()
    extra = [arg for f in os.environ.get("AUTEUR_STACK_FILES", "").split(",") if f.strip() for arg in ("-c", f.strip())]
    done = subprocess.run(["docker", "stack", "deploy", "--resolve-image", "never", "--prune",
                           "-c", str(generated), "-c", str(STACK_FILE), *extra, stack_name()],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)  # fmt: skip
    if done.returncode:
        print(done.stdout + done.stderr, file=sys.stderr)
        return done.returncode
    print(f"Deployed stack {stack_name()}; waiting for every replica")
    took = wait_converged()
    print(f"Swarm stack up: images ready in {built - started:.1f} s, converged {took:.1f} s after the deploy. "
          f"Gallery http://localhost:{env.get('AUTEUR_WEB_PORT', '3000')}, API {api_url()}")  # fmt: skip
    return 0


def down(timeout: float = 120) -> int:
    """Remove the stack and wait until its containers and network are gone; its volumes stay."""
    name = stack_name()
    if not services():
        print(f"No stack {name} is deployed")
        return 0
    docker("stack", "rm", name)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        containers = docker("ps", "-aq", "--filter", f"label=com.docker.stack.namespace={name}").split()
        networks = docker("network", "ls", "-q", "--filter", f"label=com.docker.stack.namespace={name}").split()
        if not containers and not networks:
            volumes = docker("volume", "ls", "-q", "--filter", f"label=com.docker.stack.namespace={name}").split()
            print(f"Stack {name} removed; its volumes stay: {', '.join(volumes) or 'none'}")
            return 0
        time.sleep(0.5)
    print(f"stack {name}: containers or its network still there after {timeout:.0f} s", file=sys.stderr)
    return 1


def status() -> int:
    found = services()
    if not found:
        print(f"No stack {stack_name()} is deployed (make swarm-up)")
        return 1
    for name, s in sorted(found.items()):
        print(f"  {name}: {s['running']}/{s['wanted']} running ({s['mode']})")
    health = api_health()
    print(f"  API through the proxy: {health or 'no answer'} ({api_url()}/health)")
    if converged(found) and health is not None:
        print("All services converged")
        return 0
    print(problems())
    return 1


def scale(assignments: list[str]) -> int:
    """``backend=3 worker=2``: Docker scales them (and waits); then every replica must be up."""
    name = stack_name()
    pairs = []
    for item in assignments:
        service, _, count = item.partition("=")
        if not service or not count.isdigit():
            raise SystemExit(f"scale: {item!r} is not SERVICE=COUNT")
        pairs.append(f"{name}_{service}={count}")
    if not pairs:
        raise SystemExit("scale: say what, as SERVICE=COUNT (e.g. backend=3)")
    docker("service", "scale", "--detach", *pairs, timeout=300)
    took = wait_converged()
    print(f"Scaled {' '.join(assignments)} in {took:.1f} s")
    return 0


def main(argv: list[str]) -> int:
    action, rest = (argv[1], argv[2:]) if len(argv) > 1 else ("", [])
    if action == "up":
        return up()
    if action == "down":
        return down()
    if action == "status":
        return status()
    if action == "scale":
        return scale(rest)
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except KeyboardInterrupt:
        sys.exit(130)
