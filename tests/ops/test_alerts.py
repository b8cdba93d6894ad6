"""The alert rules and the dashboard refer to metrics that exist, and fire when they should.

``promtool`` (Debian's ``prometheus`` package) checks the rules and the scrape config and runs
``deploy/prometheus/alerts_test.yml`` (series that fire and series that do not). Every metric
the rules or the dashboard name is then looked for in what the stack really serves: the
embedded stack's ``/metrics`` (the API's and the controller's figures) and the controller
service's own metrics port.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from helpers import RunningStack
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy" / "prometheus"
DASHBOARD = ROOT / "deploy" / "grafana" / "auteur.json"
# Names in PromQL that are not metrics: functions, keywords, label names used in selectors.
_NOT_METRICS = {"rate", "sum", "by", "deriv", "and", "or", "histogram_quantile", "le", "route", "result", "code", "up", "job"}


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    if binary is None:
        pytest.fail("promtool is not installed (Debian's prometheus package; .ci/run installs it)")
    return subprocess.run([binary, *args], cwd=PROMETHEUS, capture_output=True, text=True, check=False)


def test_promtool_checks_the_rules_and_the_scrape_config_and_their_tests_pass():
    for args in (("check", "rules", "alerts.yml"), ("check", "config", "prometheus.yml"), ("test", "rules", "alerts_test.yml")):
        result = promtool(*args)
        assert result.returncode == 0, f"promtool {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    assert "SUCCESS" in promtool("test", "rules", "alerts_test.yml").stdout


def named_metrics() -> set[str]:
    exprs = re.findall(r"^\s*expr: (.+)$", (PROMETHEUS / "alerts.yml").read_text(), re.M)
    exprs += [t["expr"] for p in json.loads(DASHBOARD.read_text())["panels"] for t in p["targets"]]
    names = set()
    for expr in exprs:
        without_labels = re.sub(r"\{[^}]*\}", "", expr)
        without_ranges = re.sub(r"\[[^\]]*\]", "", without_labels)
        names |= {n for n in re.findall(r"[a-z_][a-z0-9_]*", without_ranges) if n not in _NOT_METRICS and "_" in n}
    return names


def served(text: str) -> set[str]:
    """Every series name the text offers, also of families with no sample yet (a labelled
    counter nobody has counted on)."""
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "summary": ("_sum", "_count")}
    found = set()
    for family in text_string_to_metric_families(text):
        found |= {s.name for s in family.samples} | {family.name} | {family.name + x for x in suffixes.get(family.type, ())}
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_every_metric_the_rules_and_the_dashboard_name_is_served(api_settings, tmp_path):
    with RunningStack(api_settings) as stack:
        text = httpx.get(f"{stack.api_url}/metrics", timeout=30).text
    port = free_port()
    env = {**os.environ, "AUTEUR_METRICS_PORT": str(port), "AUTEUR_SPECS": str(tmp_path / "specs"),
           "AUTEUR_WORKSPACE": str(tmp_path / "workspace")}  # fmt: skip
    env.pop("REDIS_URL", None)
    controller = subprocess.Popen([sys.executable, "-m", "controller", "run"], cwd=ROOT, env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                own = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
                break
            except httpx.TransportError:
                assert controller.poll() is None and time.monotonic() < deadline, "the controller's metrics port never answered"
                time.sleep(0.2)
    finally:
        controller.terminate()
        controller.wait(30)
    assert "controller_runtime_reconcile_total" in served(own) and "workqueue_depth" in served(own)
    missing = named_metrics() - served(text) - {"auteur_redis_up"}  # only in Redis mode: an embedded stack has none
    assert not missing, f"named in deploy/ but not served: {sorted(missing)}"
    assert {"auteur_controller_up", "auteur_workspace_free_bytes", "auteur_projects"} <= served(text)
