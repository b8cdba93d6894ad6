"""The stack's images, built on any machine, with or without a container registry.

    python -m launcher.images            # make sure every image exists (what `make docker-up` does first)
    python -m launcher.images --test     # ... and the test-runner image of docker-compose.test.yml

Two base images come from outside: a Python 3.11 on Debian bookworm for the one Auteur
image, and Redis. Each is the official image (``python:3.11-slim``, ``redis:7-alpine``)
when it is here or a registry gives it; where no registry answers, it is built once from
Debian packages — ``debootstrap`` of bookworm from the host's own apt mirror, imported with
``docker import``, then Debian's ``python3``/``python3-venv`` or ``redis-server`` — and
reused after. ``AUTEUR_BASE_IMAGE`` / ``AUTEUR_REDIS_IMAGE`` name other images instead.

Python packages never come from inside a build: the host builds wheels with its own pip
(and its own configuration) into ``.docker/wheels``, and the Dockerfile installs them with
``--no-index``. No certificate, token or pip setting of the host enters an image.

The choice is written to ``.env`` beside the compose file (with the compose project name
of this checkout), so every later ``docker compose`` or ``docker-compose`` call here,
by make or by hand, reads the same.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STATE = ROOT / ".docker"
WHEELS = STATE / "wheels"
ENV_FILE = ROOT / ".env"

OFFICIAL_BASE = "python:3.11-slim"
OFFICIAL_REDIS = "redis:7-alpine"
LOCAL_DEBIAN = "auteur-debian:bookworm"
LOCAL_BASE = "auteur-python:3.11-bookworm"
LOCAL_REDIS = "auteur-redis:7-bookworm"
LOCAL_HAPROXY = "auteur-haproxy:2.6-bookworm"
APP_IMAGE = "auteur:latest"
TEST_IMAGE = "auteur-test:latest"

# The official Debian images' apt settings: no package caches or lists left in layers.
APT_CLEAN = """\
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
Acquire::Languages "none";
APT::Install-Recommends "false";
"""
DPKG_EXCLUDES = """\
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/*
"""
PYTHON_DOCKERFILE = f"""\
FROM {LOCAL_DEBIAN}
RUN apt-get update && apt-get install -y python3 python3-venv && rm -rf /var/lib/apt/lists/*
CMD ["python3"]
"""
REDIS_DOCKERFILE = f"""\
FROM {LOCAL_DEBIAN}
RUN apt-get update && apt-get install -y redis-server && rm -rf /var/lib/apt/lists/* \\
 && mkdir -p /data && chown redis:redis /data
WORKDIR /data
USER redis
EXPOSE 6379
CMD ["redis-server", "--protected-mode", "no", "--bind", "0.0.0.0"]
"""
# The Swarm stack's proxy (docker-stack.yml): Debian's haproxy; its configuration is a Swarm config.
HAPROXY_DOCKERFILE = f"""\
FROM {LOCAL_DEBIAN}
RUN apt-get update && apt-get install -y haproxy && rm -rf /var/lib/apt/lists/* && mkdir -p /run/haproxy
USER haproxy
EXPOSE 8000 3000 8404
CMD ["haproxy", "-W", "-db", "-f", "/etc/haproxy/haproxy.cfg"]
"""


def say(message: str) -> None:
    print(f"[images] {message}", file=sys.stderr, flush=True)


def docker(*args: str, check: bool = True, quiet: bool = True, timeout: float | None = None, input: bytes | None = None,
           env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:  # fmt: skip
    done = subprocess.run(["docker", *args], capture_output=quiet, timeout=timeout, input=input, env=env)
    if check and done.returncode:
        detail = (done.stderr or b"").decode(errors="replace").strip()[-2000:] if quiet else ""
        raise SystemExit(f"docker {' '.join(args[:3])} failed ({done.returncode}){': ' + detail if detail else ''}")
    return done


def image_id(image: str) -> str:
    return docker("image", "inspect", "-f", "{{.Id}}", image).stdout.decode().strip()


def exists(image: str) -> bool:
    return docker("image", "inspect", image, check=False).returncode == 0


def pull(image: str) -> str | None:
    """Pull ``image``; None when it came, else why not (one line)."""
    try:
        done = docker("pull", "-q", image, check=False, timeout=300)
    except subprocess.TimeoutExpired:
        return "no answer in 300 s"
    if done.returncode == 0:
        return None
    return (done.stderr.decode(errors="replace").strip().splitlines() or ["failed"])[-1]


def legacy_build(*args: str, input: bytes | None = None) -> None:
    """``docker build`` with the engine's classic builder (no buildx plugin needed), output shown."""
    env = dict(os.environ, DOCKER_BUILDKIT="0")
    started = time.monotonic()
    done = subprocess.run(["docker", "build", *args], input=input, env=env, stdout=sys.stderr, stderr=subprocess.STDOUT)
    if done.returncode:
        raise SystemExit(f"docker build {' '.join(args)} failed ({done.returncode})")
    say(f"built {args[args.index('-t') + 1]} in {time.monotonic() - started:.0f} s")


# -- base images from Debian packages --------------------------------------------------------


def apt_mirrors() -> tuple[str, str]:
    """The Debian and security mirrors this host's apt uses (deb822 or one-line sources)."""
    found: list[str] = []
    for path in sorted(Path("/etc/apt/sources.list.d").glob("*.sources")):
        found += re.findall(r"^URIs:\s*(\S+)", path.read_text(), re.M)
    for path in [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*.list"))]:
        if path.exists():
            found += re.findall(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)", path.read_text(), re.M)
    main = next((u for u in found if "security" not in u), "http://deb.debian.org/debian")
    security = next((u for u in found if "security" in u), "http://deb.debian.org/debian-security")
    return main.rstrip("/"), security.rstrip("/")


def build_debian() -> None:
    """``auteur-debian:bookworm``: a minimal bookworm from debootstrap, through ``docker import``."""
    if shutil.which("debootstrap") is None:
        raise SystemExit("debootstrap is needed to build a base image without a registry: apt-get install debootstrap")
    mirror, security = apt_mirrors()
    started = time.monotonic()
    say(f"debootstrap of bookworm from {mirror} (once; later runs reuse the image)")
    with tempfile.TemporaryDirectory(prefix="auteur-rootfs-", dir="/var/tmp") as tmp:
        rootfs = Path(tmp) / "rootfs"
        done = subprocess.run(["debootstrap", "--variant=minbase", "bookworm", str(rootfs), mirror], capture_output=True, text=True)
        if done.returncode:
            raise SystemExit(f"debootstrap failed ({done.returncode}):\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
        (rootfs / "etc/apt/sources.list").write_text(
            f"deb {mirror} bookworm main\ndeb {mirror} bookworm-updates main\ndeb {security} bookworm-security main\n"
        )
        (rootfs / "etc/apt/apt.conf.d/docker-clean").write_text(APT_CLEAN)
        (rootfs / "etc/dpkg/dpkg.cfg.d/docker-excludes").write_text(DPKG_EXCLUDES)
        for junk in ("var/cache/apt/archives", "var/lib/apt/lists", "usr/share/doc", "usr/share/man", "usr/share/info",
                     "usr/share/locale", "var/log"):  # fmt: skip
            for child in (rootfs / junk).glob("*"):
                if (child.is_file() and not child.name.startswith("lock")) or child.is_symlink():
                    child.unlink()
                elif child.is_dir() and child.name != "partial":
                    shutil.rmtree(child)
        tar = subprocess.Popen(["tar", "--numeric-owner", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        imported = subprocess.run(["docker", "import", "--change", 'CMD ["bash"]', "-", LOCAL_DEBIAN], stdin=tar.stdout,
                                  capture_output=True)  # fmt: skip
        assert tar.stdout is not None
        tar.stdout.close()
        if tar.wait() or imported.returncode:
            raise SystemExit(f"docker import failed: {imported.stderr.decode(errors='replace')}")
    say(f"built {LOCAL_DEBIAN} in {time.monotonic() - started:.0f} s")


def from_debian(tag: str, dockerfile: str) -> None:
    if not exists(LOCAL_DEBIAN):
        build_debian()
    legacy_build("-t", tag, "-", input=dockerfile.encode())


def obtain(variable: str, official: str, local: str, dockerfile: str) -> str:
    """The image to use for one base: the override, the official one if here or pullable, else ours."""
    chosen = os.environ.get(variable)
    if chosen:
        if not exists(chosen) and (why := pull(chosen)):
            raise SystemExit(f"{variable}={chosen}: not here and it cannot be pulled ({why})")
        return chosen
    if exists(official):
        return official
    if exists(local):
        return local
    why = pull(official)
    if why is None:
        return official
    say(f"{official} cannot be pulled ({why}); building {local} from Debian packages instead")
    from_debian(local, dockerfile)
    return local


# -- Python packages -------------------------------------------------------------------------


def requirements() -> tuple[list[str], list[str]]:
    """The runtime requirements and the test-runner's (runtime + dev), from pyproject.toml."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = list(project["dependencies"])
    return runtime, runtime + list(project["optional-dependencies"]["dev"])


def image_python(image: str) -> str:
    """The Python version of ``image`` (e.g. ``3.11.2``)."""
    done = docker("run", "--rm", "--entrypoint", "python3", image, "-c", "import platform; print(platform.python_version())")
    return done.stdout.decode().strip()


def marker_gaps(folder: Path, version: str) -> list[str]:
    """Requirements of the wheels in ``folder`` that the image's Python needs but the host's did not
    (markers on ``python_full_version``: redis wants async-timeout before 3.11.3, for one)."""
    from packaging.markers import default_environment
    from packaging.requirements import Requirement

    host: dict[str, str] = {**{k: str(v) for k, v in default_environment().items()}, "extra": ""}
    image = {**host, "python_full_version": version, "python_version": ".".join(version.split(".")[:2])}
    gaps: set[str] = set()
    for wheel in folder.glob("*.whl"):
        with zipfile.ZipFile(wheel) as archive:
            metadata = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
            for line in archive.read(metadata).decode(errors="replace").splitlines():
                if not line.startswith("Requires-Dist:"):
                    continue
                requirement = Requirement(line.split(":", 1)[1].strip())
                marker = requirement.marker
                if marker is not None and marker.evaluate(image) and not marker.evaluate(host):
                    requirement.marker = None
                    gaps.add(str(requirement))
    return sorted(gaps)


def wheels(base: str, base_id: str) -> None:
    """Wheels of every requirement for ``base``'s Python, built by the host's pip; rebuilt only when
    the requirements or the base image change (only then is the image's Python asked its version)."""
    runtime, dev = requirements()
    texts = {"requirements.txt": "\n".join(runtime) + "\n", "requirements-dev.txt": "\n".join(dev) + "\n"}
    stamp = hashlib.sha256(repr((sorted(texts.items()), base_id)).encode()).hexdigest()
    if (WHEELS / ".stamp").exists() and (WHEELS / ".stamp").read_text() == stamp:
        return
    version = image_python(base)
    STATE.mkdir(exist_ok=True)
    fresh = Path(tempfile.mkdtemp(prefix="wheels-", dir=STATE))
    for name, text in texts.items():
        (fresh / name).write_text(text)
    say("building wheels of the Python requirements on the host (pip wheel)")
    started = time.monotonic()
    wanted = ["-r", str(fresh / "requirements-dev.txt")]
    while wanted:
        done = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--disable-pip-version-check", "-w", str(fresh), *wanted])
        if done.returncode:
            shutil.rmtree(fresh)
            raise SystemExit("pip wheel failed: the host's pip must reach the Python package index")
        gaps = marker_gaps(fresh, version)
        extra = [g for g in gaps if g not in texts["requirements-dev.txt"]]
        for name in texts:  # the image's Python needs these too: install them there
            (fresh / name).write_text(texts[name] + "".join(f"{g}\n" for g in extra))
        texts = {name: (fresh / name).read_text() for name in texts}
        wanted = extra
    (fresh / ".stamp").write_text(stamp)
    if WHEELS.exists():
        shutil.rmtree(WHEELS)
    fresh.rename(WHEELS)
    say(f"{len(list(WHEELS.glob('*.whl')))} wheels in {time.monotonic() - started:.0f} s")


# -- the compose environment -----------------------------------------------------------------


def checkout_project(root: Path = ROOT) -> str:
    """This checkout's compose project: the same for compose v2 and Debian's v1 (letters and digits)."""
    return "auteur" + hashlib.sha256(str(root).encode()).hexdigest()[:6]


def project_name() -> str:
    """The compose project in use: ``COMPOSE_PROJECT_NAME`` when set (the tests' own), else this checkout's."""
    return os.environ.get("COMPOSE_PROJECT_NAME") or checkout_project()


def write_env(values: dict[str, str]) -> None:
    """Set ``values`` in ``.env`` (compose reads it), keeping any other line the user wrote."""
    lines = ENV_FILE.read_text().splitlines() if ENV_FILE.exists() else ["# compose settings of this checkout (make docker-up)"]
    kept = [line for line in lines if line.split("=", 1)[0].strip() not in values]
    body = "\n".join([*kept, *(f"{k}={v}" for k, v in values.items())]) + "\n"
    tmp = ENV_FILE.with_name(".env.tmp")
    tmp.write_text(body)
    os.replace(tmp, ENV_FILE)


CONTEXT = (
    "auteur",
    "redisbackend",
    "controller",
    "api",
    "worker",
    "web",
    "launcher",
    "scripts",
    "pyproject.toml",
    "Dockerfile",
    ".dockerignore",
)


def inputs_digest(base_id: str, test: bool) -> str:
    """A digest of everything a build of the app (or test) image reads: skip the build when unchanged."""
    digest = hashlib.sha256(base_id.encode())
    digest.update((WHEELS / ".stamp").read_bytes())
    for top in (*CONTEXT, *(("tests",) if test else ())):
        path = ROOT / top
        files = sorted(p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts) if path.is_dir() else [path]
        for file in files:
            digest.update(f"{file.relative_to(ROOT)}\0{file.stat().st_mode & 0o111}\0".encode())
            digest.update(hashlib.sha256(file.read_bytes()).digest())
    return digest.hexdigest()


def label(image: str) -> str | None:
    done = docker("image", "inspect", "-f", '{{index .Config.Labels "auteur.inputs"}}', image, check=False)
    return done.stdout.decode().strip() if done.returncode == 0 else None


def build_app(base: str, base_id: str, target: str, tag: str) -> None:
    """Build ``--target`` of the Dockerfile as ``tag`` unless an image of the same inputs exists."""
    digest = inputs_digest(base_id, test=target == "test")
    if label(tag) == digest:
        return
    legacy_build("--build-arg", f"BASE={base}", "--label", f"auteur.inputs={digest}", "--target", target, "-t", tag, str(ROOT))


def ensure_proxy() -> str:
    """The Swarm stack's proxy image (``AUTEUR_PROXY_IMAGE``, else ours, built from Debian packages once)."""
    chosen = os.environ.get("AUTEUR_PROXY_IMAGE")
    if chosen:
        if not exists(chosen):
            raise SystemExit(f"AUTEUR_PROXY_IMAGE={chosen}: no such image here")
        return chosen
    if not exists(LOCAL_HAPROXY):
        say(f"building {LOCAL_HAPROXY} from Debian packages")
        from_debian(LOCAL_HAPROXY, HAPROXY_DOCKERFILE)
    return LOCAL_HAPROXY


def ensure(test: bool = False) -> dict[str, str]:
    """Every image the stack needs; returns the compose environment it wrote to ``.env``."""
    if shutil.which("docker") is None:
        raise SystemExit("the docker CLI is not installed: apt-get install docker.io")
    base = obtain("AUTEUR_BASE_IMAGE", OFFICIAL_BASE, LOCAL_BASE, PYTHON_DOCKERFILE)
    redis = obtain("AUTEUR_REDIS_IMAGE", OFFICIAL_REDIS, LOCAL_REDIS, REDIS_DOCKERFILE)
    values = {"COMPOSE_PROJECT_NAME": checkout_project(), "AUTEUR_BASE_IMAGE": base, "AUTEUR_REDIS_IMAGE": redis}
    write_env(values)
    base_id = image_id(base)
    wheels(base, base_id)
    build_app(base, base_id, "app", APP_IMAGE)
    if test:
        build_app(base, base_id, "test", TEST_IMAGE)
    return values


def main(argv: list[str]) -> int:
    values = ensure(test="--test" in argv)
    for key, value in values.items():
        print(f"{key}={value}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
