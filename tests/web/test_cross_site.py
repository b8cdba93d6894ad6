"""A page from another origin cannot change anything, in a real Chromium, with auth off (the
most exposed mode): its fetch upload, its form posts and its WebSocket are all refused by the
API's cross-site check, and nothing is stored. The refusals are counted in the API's
``/metrics``, so the test knows the requests did reach the API.
"""

from __future__ import annotations

import http.server
import threading

import pytest
from helpers import wait_for
from prometheus_client.parser import text_string_to_metric_families

from tests.web.test_project_page import make_project

UPLOAD_ROUTE = "/api/v1/projects/{project_id}/assets"


def evil_page(api: str, project_id: str) -> bytes:
    upload = f"{api}/api/v1/projects/{project_id}/assets?asset_type=scripts"
    return f"""<!doctype html><html><head><title>free stock footage</title></head><body>
<form id="upload" method="post" enctype="multipart/form-data" action="{upload}"><input type="file" name="files"></form>
<form id="create" method="post" enctype="text/plain" action="{api}/api/v1/projects">
  <input type="hidden" name='{{"name": "Forged", "x": "' value='"}}'></form>
<div id="report"></div>
<script>
  function report(what) {{ document.getElementById("report").textContent += what + " "; }}
  function attackWithScript() {{
    const form = new FormData();
    form.append("files", new Blob(["evil bytes"]), "evil.txt");
    fetch("{upload}", {{method: "POST", body: form, mode: "no-cors", credentials: "include"}})
      .then(() => report("fetch-sent"), () => report("fetch-failed"));
    const ws = new WebSocket("{api.replace("http", "ws", 1)}/api/v1/events");
    ws.onopen = () => report("ws-open");
    ws.onerror = () => report("ws-refused");
  }}
</script></body></html>""".encode()


class EvilSite:
    """Serves ``page`` at ``/`` from a loopback port of its own: another origin than the gallery's."""

    def __init__(self, page: bytes) -> None:
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.end_headers()
                self.wfile.write(page)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def refused(api, route: str) -> float:
    """POSTs to ``route`` the API answered 403."""
    for family in text_string_to_metric_families(api.get("/metrics").text):
        for sample in family.samples:
            if sample.name == "auteur_api_requests_total" and sample.labels == {"code": "403", "method": "POST", "route": route}:
                return sample.value
    return 0.0


@pytest.fixture
def evil(web_stack, api):
    project_id = make_project(api, "Cross Site Target")
    site = EvilSite(evil_page(web_stack.api_url, project_id))
    yield site, project_id
    site.close()


def test_another_origin_can_neither_upload_nor_create_nor_listen(evil, page, web_stack, api, tmp_path):
    site, project_id = evil
    uploads_before, creates_before = refused(api, UPLOAD_ROUTE), refused(api, "/api/v1/projects")
    staged = web_stack.settings.state / "uploads"
    staged_before = sorted(p.name for p in staged.rglob("*")) if staged.exists() else []
    payload = tmp_path / "evil.txt"
    payload.write_bytes(b"evil bytes from a form")

    page.goto(site.url)
    page.evaluate("attackWithScript()")
    wait_for(lambda: "fetch-" in page.inner_text("#report") and "ws-" in page.inner_text("#report"), 20, what="the scripted attacks")
    assert "ws-refused" in page.inner_text("#report") and "ws-open" not in page.inner_text("#report")

    page.goto(site.url)
    page.set_input_files("#upload input[type=file]", str(payload))
    with page.expect_navigation():
        page.evaluate("document.getElementById('upload').submit()")
    assert "cross_site" in page.content()

    page.goto(site.url)
    with page.expect_navigation():
        page.evaluate("document.getElementById('create').submit()")
    assert "cross_site" in page.content()

    # The fetch and the upload form reached the API and were refused; so was the forged create.
    wait_for(lambda: refused(api, UPLOAD_ROUTE) >= uploads_before + 2, 10, what="two refused uploads")
    assert refused(api, "/api/v1/projects") >= creates_before + 1
    # Each was answered 403 before its body was read: nothing can be on its way in.
    assert [a["path"] for a in api.get(f"/api/v1/projects/{project_id}/assets").json()] == []
    assert not any(p["name"] == "Forged" for p in api.get("/api/v1/projects").json())
    assert (sorted(p.name for p in staged.rglob("*")) if staged.exists() else []) == staged_before
