"""``auteur.logs``: JSON lines carry the ids bound around the work; text stays the default."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from auteur import logs

ROOT = Path(__file__).resolve().parents[2]


def test_a_json_line_has_the_fields_and_the_bound_ids(capsys):
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level  # pytest's own, put back after
    logs.configure("json")
    try:
        with logs.bound(project_id="film", upload_id=None):
            logging.getLogger("auteur.test").warning("converged %s", "film")
        logging.getLogger("auteur.test").info("outside")
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    first, second = (json.loads(line) for line in capsys.readouterr().err.strip().splitlines())
    assert first["level"] == "warning" and first["logger"] == "auteur.test" and first["message"] == "converged film"
    assert first["project_id"] == "film" and "upload_id" not in first and first["time"].endswith("Z")
    assert second["message"] == "outside" and "project_id" not in second


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_api_names_each_request_in_its_answer_its_error_and_its_log_lines(tmp_path):
    """``python -m api`` with AUTEUR_LOG_FORMAT=json: a request's id is answered, put in the
    error body, and carried by the log line the server writes for it."""
    port = free_port()
    env = {**os.environ, "AUTEUR_LOG_FORMAT": "json", "AUTEUR_API_PORT": str(port), "AUTEUR_API_HOST": "127.0.0.1",
           "AUTEUR_SPECS": str(tmp_path / "specs"), "AUTEUR_WORKSPACE": str(tmp_path / "workspace")}  # fmt: skip
    env.pop("REDIS_URL", None)
    (tmp_path / "specs").mkdir()
    (tmp_path / "workspace").mkdir()
    with open(tmp_path / "api.log", "wb") as out:
        server = subprocess.Popen([sys.executable, "-m", "api"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while True:
                assert server.poll() is None, (tmp_path / "api.log").read_text()
                try:
                    if httpx.get(f"{url}/health/live", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline
                time.sleep(0.2)
            missing = httpx.get(f"{url}/api/v1/projects/no-such-film", headers={"X-Request-Id": "req-2026-abc"})
            assert missing.status_code == 404 and missing.headers["X-Request-Id"] == "req-2026-abc"
            assert missing.json()["error"]["request_id"] == "req-2026-abc"
            made_up = httpx.get(f"{url}/api/v1/projects", headers={"X-Request-Id": "not a sane id"})
            assert made_up.headers["X-Request-Id"] != "not a sane id" and len(made_up.headers["X-Request-Id"]) == 32

            def logged() -> list[dict]:
                lines = [json.loads(line) for line in (tmp_path / "api.log").read_text().splitlines() if line.startswith("{")]
                return [line for line in lines if line.get("request_id") == "req-2026-abc"]

            deadline = time.monotonic() + 10
            while not logged():
                assert time.monotonic() < deadline, (tmp_path / "api.log").read_text()
                time.sleep(0.1)
            [line] = logged()
            assert line["logger"] == "uvicorn.access" and "/api/v1/projects/no-such-film" in line["message"]
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(30)
    every = (tmp_path / "api.log").read_text().splitlines()
    assert every and all(line.startswith("{") for line in every), every[:5]
