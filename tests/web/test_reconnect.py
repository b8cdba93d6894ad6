"""The gallery keeps following events across an API restart: it reconnects with
backoff and resumes with ``?since=``, so what happened meanwhile shows up too."""

from __future__ import annotations

import os
import urllib.parse

import httpx
from playwright.sync_api import expect

from tests.web.conftest import RunningStack, web_settings


def port_of(url: str) -> int:
    port = urllib.parse.urlsplit(url).port
    assert port is not None
    return port


def test_the_gallery_reconnects_after_the_api_restarts(page, tmp_path):
    settings = web_settings(tmp_path)
    first = RunningStack(settings)
    stack = first.__enter__()
    try:
        api_port, web_port = port_of(stack.api_url), port_of(stack.web_url)
        page.goto(stack.web_url + "/")
        live = page.locator("#live")
        expect(live).to_have_attribute("data-state", "live")
    finally:
        first.__exit__(None, None, None)

    expect(live).to_have_attribute("data-state", "reconnecting")
    # Changed while nothing was running: the restarted controller reports it.
    settings.specs.mkdir(parents=True, exist_ok=True)
    tmp = settings.specs / ".while-down.tmp"
    tmp.write_text("name: While Down\n")
    os.rename(tmp, settings.specs / "While Down.yaml")

    with RunningStack(settings, api_port=api_port, web_port=web_port) as again:
        expect(live).to_have_attribute("data-state", "live", timeout=15_000)
        expect(page.locator("#card-while-down .status")).to_contain_text("ready", timeout=5_000)
        assert httpx.post(again.api_url + "/api/v1/projects", json={"name": "After Restart"}, timeout=30).status_code == 201
        expect(page.locator("#card-after-restart")).to_be_visible(timeout=5_000)
    assert page.errors == []
