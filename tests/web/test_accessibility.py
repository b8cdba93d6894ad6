"""Keyboard and screen-reader basics, checked by axe-core in Chromium: the gallery, a project
page and the trash page (with their forms, dialogs, failures and uploads showing) have no
serious or critical violations, and their controls are reachable with Tab.

axe (tests/vendor/axe-core) is injected as a script file, which the gallery's CSP would
refuse: these pages are opened in a context that bypasses it.
"""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import expect

AXE = Path(__file__).resolve().parents[1] / "vendor" / "axe-core" / "axe.min.js"
SERIOUS = {"serious", "critical"}
FOCUSED = "() => { const e = document.activeElement; return e.getAttribute('aria-label') || e.id || e.textContent.trim(); }"


def violations(page) -> list[str]:
    """axe's serious and critical findings on the page as it is now, one line each."""
    page.add_script_tag(path=str(AXE))
    found = page.evaluate("() => axe.run(document, {resultTypes: ['violations']}).then(r => r.violations)")
    return [f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']]}" for v in found if v["impact"] in SERIOUS]


def reachable(page) -> set[str]:
    """What Tab reaches from the top of the page: each control's accessible text or id."""
    seen: list[str] = []
    page.locator("body").focus()
    for _ in range(60):
        page.keyboard.press("Tab")
        name = page.evaluate(FOCUSED)
        if seen and name == seen[0]:
            break
        seen.append(name)
    return set(seen)


def test_the_gallery_with_a_failed_card_and_its_dialog(axe_page, web_stack, api):
    page = axe_page
    api.post("/api/v1/projects", json={"name": "Axe Film", "quality": "premium"})
    (web_stack.settings.specs / "Axe Broken.yaml").write_text("name: Axe Broken\nqualty: draft\n")
    page.goto(web_stack.web_url + "/")
    expect(page.locator("#card-axe-broken .failure")).to_be_visible(timeout=10_000)
    expect(page.locator("#live")).to_have_attribute("data-state", "live")
    assert violations(page) == []
    assert {"Skip to content", "Projects", "Trash", "new-project", "filter", "Axe Film"} <= reachable(page)
    page.get_by_role("button", name="New Project").click()
    expect(page.locator("#new-project-dialog")).to_be_visible()
    assert violations(page) == []


def test_a_project_page_with_its_forms_an_upload_and_the_delete_dialog(axe_page, web_stack, api):
    page = axe_page
    project_id = api.post("/api/v1/projects", json={"name": "Axe Project"}).json()["id"]
    page.goto(f"{web_stack.web_url}/project/{project_id}")
    expect(page.locator("#live")).to_have_attribute("data-state", "live")
    page.set_input_files('input[type="file"]', files=[{"name": ".hidden", "mimeType": "text/plain", "buffer": b"x"}])
    expect(page.locator('.upload-item[data-status="failed"]')).to_have_count(1)
    page.locator("#edit-description").fill("x" * 10_001)
    page.get_by_role("button", name="Save changes").click()
    expect(page.locator("#edit-description-error")).to_be_visible()
    assert violations(page) == []
    assert {"Skip to content", "Projects", "Trash", "delete-project", "asset-type", "files", "edit-quality", "edit-description",
            "edit-save"} <= reachable(page)  # fmt: skip
    page.get_by_role("button", name="Delete project").click()
    expect(page.locator("#delete-dialog")).to_be_visible()
    assert violations(page) == []


def test_the_trash_page_with_entries(axe_page, web_stack, api):
    page = axe_page
    project_id = api.post("/api/v1/projects", json={"name": "Axe Trash"}).json()["id"]
    assert api.delete(f"/api/v1/projects/{project_id}").status_code == 204
    page.goto(f"{web_stack.web_url}/trash")
    expect(page.locator(".trash-entry", has_text="Axe Trash")).to_be_visible()
    assert violations(page) == []
    assert {"Skip to content", "Projects", "Trash", "Restore Axe Trash"} <= reachable(page)
    page.get_by_role("button", name="Restore Axe Trash").click()
    expect(page.locator("#trash-flash")).to_contain_text("Restored “Axe Trash”", timeout=30_000)
    assert violations(page) == []
