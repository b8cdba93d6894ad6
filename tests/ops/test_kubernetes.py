"""The Kubernetes manifests of ``deploy/kubernetes/``: valid, and in step with ``docker-compose.yml``.

No cluster runs here. Every manifest is checked offline against the Kubernetes schemas that
the ``kubernetes-validate`` package ships, in strict mode (an unknown field is an error); the
committed files must be what ``python -m launcher.kubernetes`` writes from the compose file;
and, read on their own, they must agree with the compose file on what must agree (images,
commands, every environment variable, ports, probes, limits, mounts, stop grace periods),
so a change made on one side only fails here.
"""

from __future__ import annotations

import copy
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from launcher import kubernetes

FOLDER = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes"
KUBERNETES_VERSION = "1.30"
HEALTHCHECK = "/app/scripts/healthcheck.sh"
Document = dict[str, Any]


@pytest.fixture(scope="module")
def model() -> Document:
    return kubernetes.read_compose()


def documents(folder: Path = FOLDER) -> dict[str, list[Document]]:
    return {path.name: [doc for doc in yaml.safe_load_all(path.read_text()) if doc] for path in sorted(folder.glob("*.yaml"))}


def resources() -> list[Document]:
    return [doc for name, docs in documents().items() if name != "kustomization.yaml" for doc in docs]


def of_kind(kind: str) -> dict[str, Document]:
    return {doc["metadata"]["name"]: doc for doc in resources() if doc["kind"] == kind}


def test_every_manifest_is_valid_against_the_kubernetes_schemas_in_strict_mode():
    found = resources()
    assert {doc["kind"] for doc in found} >= {"Namespace", "ConfigMap", "Secret", "PersistentVolumeClaim", "Deployment", "Service"}
    for doc in found:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def misspelled_probe(deployment: Document) -> None:
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["livenessprobe"] = container.pop("livenessProbe")


def replicas_in_words(deployment: Document) -> None:
    deployment["spec"]["replicas"] = "two"


def no_containers(deployment: Document) -> None:
    del deployment["spec"]["template"]["spec"]["containers"]


def port_as_text(deployment: Document) -> None:
    deployment["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "eight thousand"


@pytest.mark.parametrize("breakage", [misspelled_probe, replicas_in_words, no_containers, port_as_text])
def test_the_validator_rejects_a_broken_manifest(breakage: Callable[[Document], None]):
    broken = copy.deepcopy(of_kind("Deployment")["backend"])
    kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)
    breakage(broken)
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_the_kustomization_lists_every_manifest_and_names_every_image():
    (kustomization,) = documents()["kustomization.yaml"]
    assert sorted(kustomization["resources"]) == sorted(name for name in documents() if name != "kustomization.yaml")
    used = {c["image"].rsplit(":", 1)[0] for d in of_kind("Deployment").values() for c in d["spec"]["template"]["spec"]["containers"]}
    assert {image["name"] for image in kustomization["images"]} == used


def test_the_committed_files_are_what_the_generator_writes_from_the_compose_file(model):
    assert kubernetes.differences(kubernetes.render(model)) == [], "run `python -m launcher.kubernetes` and commit deploy/kubernetes/"


def test_a_change_on_one_side_only_makes_the_files_differ(model, tmp_path):
    changed = copy.deepcopy(model)
    changed["services"]["worker"]["environment"]["AUTEUR_NEW_SETTING"] = "1"
    assert kubernetes.differences(kubernetes.render(changed)) == ["worker.yaml"]
    edited = tmp_path / "kubernetes"
    shutil.copytree(FOLDER, edited)
    (edited / "backend.yaml").write_text((edited / "backend.yaml").read_text().replace("memory: 512Mi", "memory: 1Gi"))
    assert kubernetes.differences(kubernetes.render(model), edited) == ["backend.yaml"]


def seconds(duration: str) -> int:
    assert duration.endswith("s") and duration[:-1].isdigit(), f"the compose file's durations are whole seconds: {duration!r}"
    return int(duration[:-1])


def cpus(quantity: str) -> float:
    return int(quantity[:-1]) / 1000 if quantity.endswith("m") else float(quantity)


def memory_bytes(quantity: str) -> int:
    units = {"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30}
    return int(quantity[:-2]) * units[quantity[-2:]] if quantity[-2:] in units else int(quantity)


def resolved_environment(container: Document, config: Document, secret: Document) -> dict[str, str]:
    """The variables the container gets, as the kubelet would hand them to it."""
    values: dict[str, str] = {}
    for source in container.get("envFrom", []):
        assert source["configMapRef"]["name"] == config["metadata"]["name"]
        values.update(config["data"])
    for variable in container.get("env", []):
        if "valueFrom" in variable:
            reference = variable["valueFrom"]["secretKeyRef"]
            assert reference["name"] == secret["metadata"]["name"]
            values[variable["name"]] = secret["stringData"][reference["key"]]
        else:
            values[variable["name"]] = variable["value"]
    return values


def probe_disagreements(name: str, container: Document, healthcheck: Document) -> list[str]:
    kind, *command = healthcheck["test"]
    found = []
    for probe_name in ("startupProbe", "readinessProbe", "livenessProbe"):
        probe = container.get(probe_name, {})
        if "httpGet" in probe:
            runs = [HEALTHCHECK, "http", str(probe["httpGet"]["port"]), probe["httpGet"]["path"]]
        else:
            runs = probe.get("exec", {}).get("command")
        if kind != "CMD" or runs != command:
            found.append(f"{name} {probe_name}: runs {runs}, compose {healthcheck['test']}")
        if probe.get("periodSeconds") != seconds(healthcheck["interval"]) or probe.get("timeoutSeconds") != seconds(healthcheck["timeout"]):
            found.append(f"{name} {probe_name}: period or timeout differ from compose's")
    if container.get("livenessProbe", {}).get("failureThreshold") != healthcheck["retries"]:
        found.append(f"{name}: liveness failure threshold is not compose's retries")
    return found


def service_disagreements(name: str, service: Document, deployment: Document, found: dict[str, dict[str, Document]]) -> list[str]:
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    config, secret = found["ConfigMap"]["auteur"], found["Secret"]["auteur"]
    problems = []
    if container["image"] != service["image"]:
        problems.append(f"{name}: image {container['image']}, compose {service['image']}")
    if container.get("args") != service["command"] or "command" in container:
        problems.append(f"{name}: runs {container.get('args')}, compose {service['command']}")
    environment = resolved_environment(container, config, secret)
    if environment != service.get("environment", {}):
        differing = sorted(set(environment.items()) ^ set(service.get("environment", {}).items()))
        problems.append(f"{name}: environment differs: {differing}")
    ports = {port["containerPort"] for port in container.get("ports", [])}
    published = {int(port["target"]) for port in service.get("ports", [])}
    selector = deployment["spec"]["selector"]["matchLabels"]
    served = {port["targetPort"] for s in found["Service"].values() if s["spec"]["selector"] == selector for port in s["spec"]["ports"]}
    named = {port["name"] for port in container.get("ports", []) if port["containerPort"] in published}
    if not published <= ports or not named <= served or len(named) != len(published):
        problems.append(f"{name}: ports {sorted(ports)} (served: {sorted(served)}), compose publishes {sorted(published)}")
    problems += probe_disagreements(name, container, service["healthcheck"])
    limits, compose_limits = container["resources"]["limits"], service["deploy"]["resources"]["limits"]
    if cpus(limits["cpu"]) != float(compose_limits["cpus"]) or memory_bytes(limits["memory"]) != int(compose_limits["memory"]):
        problems.append(f"{name}: limits {limits}, compose {compose_limits}")
    mounts = sorted(mount["mountPath"] for mount in container.get("volumeMounts", []))
    if mounts != sorted(volume["target"] for volume in service.get("volumes", [])):
        problems.append(f"{name}: mounts {mounts}, compose {[v['target'] for v in service.get('volumes', [])]}")
    if pod["terminationGracePeriodSeconds"] != seconds(service["stop_grace_period"]):
        problems.append(f"{name}: grace period {pod['terminationGracePeriodSeconds']} s, compose {service['stop_grace_period']}")
    return problems


def disagreements(model: Document) -> list[str]:
    """Where the committed manifests and the compose model part ways, one line each."""
    found = {kind: of_kind(kind) for kind in ("Deployment", "Service", "ConfigMap", "Secret")}
    problems = [f"{name}: a Deployment without a compose service" for name in sorted(set(found["Deployment"]) - set(model["services"]))]
    for name, service in model["services"].items():
        if name not in found["Deployment"]:
            problems.append(f"{name}: no Deployment")
            continue
        problems += service_disagreements(name, service, found["Deployment"][name], found)
    return problems


def test_the_manifests_agree_with_the_compose_file(model):
    assert disagreements(model) == []


def set_in(service: str, *path: str, value: Any) -> Callable[[Document], None]:
    def change(model: Document) -> None:
        target = model["services"][service]
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return change


def new_service(model: Document) -> None:
    model["services"]["exporter"] = copy.deepcopy(model["services"]["worker"])


DRIFTS = {
    "a new variable": set_in("controller", "environment", "AUTEUR_NEW_SETTING", value="1"),
    "a shared default": set_in("backend", "environment", "AUTEUR_RESYNC_SECONDS", value="30"),
    "the admin token": set_in("frontend", "environment", "AUTEUR_ADMIN_TOKEN", value="s3cret"),
    "the image": set_in("worker", "image", value="auteur:2.0"),
    "the command": set_in("worker", "command", value=["python", "-m", "worker", "--burst"]),
    "the port": set_in("backend", "ports", value=[{"target": 8080, "published": "8080"}]),
    "a probe": set_in("frontend", "healthcheck", "test", value=["CMD", HEALTHCHECK, "http", "3000", "/health/live"]),
    "the probe interval": set_in("redis", "healthcheck", "interval", value="5s"),
    "the memory limit": set_in("backend", "deploy", "resources", "limits", "memory", value=str(1 << 30)),
    "the CPU limit": set_in("controller", "deploy", "resources", "limits", "cpus", value=1.5),
    "a mount": set_in("controller", "volumes", value=[{"type": "volume", "source": "workspace", "target": "/data/workspace"}]),
    "the grace period": set_in("redis", "stop_grace_period", value="20s"),
    "a new service": new_service,
}


@pytest.mark.parametrize("drift", list(DRIFTS))
def test_the_agreement_check_notices_a_compose_change_the_manifests_lack(model, drift):
    changed = copy.deepcopy(model)
    DRIFTS[drift](changed)
    assert disagreements(changed), f"{drift} changed in compose only went unnoticed"
