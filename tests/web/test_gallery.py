"""The gallery in a real browser: New Project, validation, live cards, the filter, the keyboard."""

from __future__ import annotations

import os
import time

from playwright.sync_api import expect

LIVE_DEADLINE_MS = 5_000


def open_gallery(page, stack):
    page.goto(stack.web_url + "/")
    expect(page.locator("#live")).to_have_attribute("data-state", "live")
    return page


def create_through_form(page, name: str, quality: str = "standard") -> None:
    page.get_by_role("button", name="New Project").click()
    page.fill('input[name="name"]', name)
    page.select_option('select[name="quality"]', quality)
    page.click('#new-project-form button[type="submit"]')


def test_create_through_the_form_lands_on_the_project_page(page, web_stack, api):
    open_gallery(page, web_stack)
    create_through_form(page, "Form Film", "premium")

    page.wait_for_url("**/project/form-film", timeout=30_000)
    expect(page.locator("h1")).to_have_text("Form Film")
    expect(page.locator('[data-field="status-badge"]')).to_contain_text("ready")
    expect(page.locator('[data-field="quality"]')).to_have_text("premium")
    assert api.get("/api/v1/projects/form-film").json()["quality"] == "premium"
    assert page.errors == []


def test_validation_messages(page, web_stack, api):
    open_gallery(page, web_stack)
    error = page.locator("#new-project-dialog .error")

    create_through_form(page, "")
    expect(error).to_be_visible()
    expect(error).to_contain_text("required")

    page.fill('input[name="name"]', "../escape")
    page.click('#new-project-form button[type="submit"]')
    expect(error).to_contain_text("Invalid")

    assert api.post("/api/v1/projects", json={"name": "Taken Film"}).status_code == 201
    page.fill('input[name="name"]', "taken film")  # a case variant maps to the same id
    page.click('#new-project-form button[type="submit"]')
    expect(error).to_contain_text("exists")

    assert page.url == web_stack.web_url + "/", "an error must not navigate away"
    names = {p["name"] for p in api.get("/api/v1/projects").json()}
    assert "../escape" not in names and "taken film" not in names


def card(page, project_id: str):
    return page.locator(f"#card-{project_id}")


def appeared_at(page, project_id: str) -> float:
    """Wall-clock time (epoch seconds) at which the card showed up in ``page``."""
    card(page, project_id).wait_for(timeout=LIVE_DEADLINE_MS)
    return page.evaluate(f"window.__seen[{project_id!r}]") / 1000


WATCH = """
window.__seen = {};
new MutationObserver((records) => {
  for (const r of records) for (const n of r.addedNodes) {
    if (n.id && !window.__seen[n.id.slice(5)]) window.__seen[n.id.slice(5)] = Date.now();
  }
}).observe(document.getElementById('cards'), {childList: true});
"""


def test_a_project_created_in_one_page_appears_in_the_other(context, web_stack):
    one, other = open_gallery(context.new_page(), web_stack), open_gallery(context.new_page(), web_stack)
    other.evaluate(WATCH)

    clicked = time.time()
    with one.expect_response(lambda r: r.url.endswith("/api/v1/projects") and r.request.method == "POST") as created:
        create_through_form(one, "Shared Film")
    answered = time.time()
    assert created.value.status == 201

    seen = appeared_at(other, "shared-film")
    expect(card(other, "shared-film")).to_contain_text("Shared Film")
    expect(card(other, "shared-film").locator(".status")).to_contain_text("ready", timeout=LIVE_DEADLINE_MS)
    print(
        f"\nlive delay: card in the other page {1000 * (seen - answered):+.0f} ms after the API's 201 "
        f"({1000 * (seen - clicked):.0f} ms after the click; the 201 took {1000 * (answered - clicked):.0f} ms)"
    )
    assert seen - answered < LIVE_DEADLINE_MS / 1000


def test_a_spec_file_dropped_by_hand_appears_in_both_pages(context, web_stack):
    pages = [open_gallery(context.new_page(), web_stack) for _ in range(2)]
    for page in pages:
        page.evaluate(WATCH)

    specs = web_stack.settings.specs
    tmp = specs / ".hand-made.tmp"
    tmp.write_text("name: Hand Made\nquality: draft\n")
    dropped = time.time()
    os.rename(tmp, specs / "Hand Made.yaml")

    for page in pages:
        seen = appeared_at(page, "hand-made")
        expect(card(page, "hand-made").locator(".quality")).to_have_text("draft")
        expect(card(page, "hand-made").locator(".status")).to_contain_text("ready", timeout=LIVE_DEADLINE_MS)
        print(f"\nspec file → card: {1000 * (seen - dropped):.0f} ms")


def test_a_failed_project_card_says_what_failed_where_and_that_it_waits_for_a_fix(page, web_stack, shots):
    open_gallery(page, web_stack)  # open first: the failures arrive live
    specs = web_stack.settings.specs
    (specs / "Stalled Reel.yaml").write_text("name: Stalled Reel\nquality: cinema\n")
    (specs / "Wrong Name.yaml").write_text("name: Right Name\n")
    stalled, wrong = card(page, "stalled-reel"), card(page, "wrong-name")
    expect(stalled.locator(".status")).to_have_text("failed", timeout=LIVE_DEADLINE_MS)
    expect(stalled.locator(".failure-title")).to_have_text("Spec failed; stalled until fixed")
    expect(stalled.locator(".failure-text")).to_have_text(
        "Stalled Reel.yaml: field 'quality': Invalid enum value 'cinema'; expected one of draft, standard, premium"
    )
    mismatch = "Wrong Name.yaml: field 'name': name 'Right Name' does not match the file name 'Wrong Name'"
    expect(wrong.locator(".failure-text")).to_have_text(mismatch, timeout=LIVE_DEADLINE_MS)
    page.screenshot(path=str(shots / "gallery-failed.png"), full_page=True)

    page.reload()  # the server renders the same
    expect(card(page, "stalled-reel").locator(".failure-title")).to_have_text("Spec failed; stalled until fixed")
    expect(card(page, "stalled-reel").locator(".failure-text")).to_contain_text("Stalled Reel.yaml: field 'quality'")
    expect(page.locator("#live")).to_have_attribute("data-state", "live")

    project = page.context.new_page()  # its page says the same, beside the conditions; nothing to edit yet
    project.goto(f"{web_stack.web_url}/project/stalled-reel")
    failure = project.locator('[data-field="failure"]')
    expect(failure.locator(".failure-title")).to_have_text("Spec failed; stalled until fixed")
    expect(failure.locator(".failure-text")).to_contain_text("Stalled Reel.yaml: field 'quality'")
    expect(project.locator('[data-field="conditions"]')).to_contain_text("InvalidSpec")
    expect(project.locator("#edit-quality")).to_be_disabled()  # the whole fieldset is
    expect(project.locator("#edit-blocked")).to_be_visible()
    expect(project.locator("#live")).to_have_attribute("data-state", "live")
    project.screenshot(path=str(shots / "project-failed.png"))

    (specs / "Stalled Reel.yaml").write_text("name: Stalled Reel\nquality: premium\n")  # fixed: it goes on, on both pages
    expect(card(page, "stalled-reel").locator(".status")).to_have_text("ready", timeout=30_000)
    expect(card(page, "stalled-reel").locator(".failure")).to_have_count(0)
    expect(project.locator('[data-field="status-badge"]')).to_contain_text("ready")
    expect(failure).to_be_hidden()
    expect(project.get_by_role("button", name="Save changes")).to_be_enabled()
    expect(project.locator("#edit-quality")).to_have_value("premium")
    expect(project.locator("#edit-blocked")).to_be_hidden()
    (specs / "Wrong Name.yaml").unlink()


def test_cards_show_status_and_failures_and_filter(page, web_stack, api):
    api.post("/api/v1/projects", json={"name": "Filter Alpha", "quality": "draft"})
    api.post("/api/v1/projects", json={"name": "Filter Beta"})
    (web_stack.settings.specs / "Broken Spec.yaml").write_text("name: Broken Spec\nqualty: draft\n")
    open_gallery(page, web_stack)

    broken = card(page, "broken-spec")
    expect(broken.locator(".status")).to_contain_text("failed", timeout=LIVE_DEADLINE_MS)
    expect(broken.locator(".failure")).to_contain_text("qualty")

    created = [c for c in page.eval_on_selector_all("#cards > li", "els => els.map(e => e.dataset.created)") if c]
    assert len(created) > 3 and created == sorted(created, reverse=True), "newest first"

    expect(page.get_by_role("link", name="Filter Alpha", exact=True)).to_be_visible()  # the card's name, nothing else
    page.fill("#filter", "filter alpha")
    expect(page.locator("#cards > li")).to_have_count(1)  # the API searched: only the match is on the page
    expect(card(page, "filter-alpha")).to_be_visible()
    expect(page.locator("#count")).to_have_text("1 matching project")
    assert "q=filter+alpha" in page.url
    page.fill("#filter", "no such thing at all")
    expect(page.locator("#no-match")).to_be_visible()
    page.fill("#filter", "")
    expect(card(page, "filter-beta")).to_be_visible()


def test_keyboard_opens_and_closes_the_dialog(page, web_stack):
    open_gallery(page, web_stack)
    page.keyboard.press("Tab")  # the skip link
    page.keyboard.press("Tab")  # the brand
    page.keyboard.press("Tab")  # Projects
    page.keyboard.press("Tab")  # Trash
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "new-project"
    page.keyboard.press("Enter")
    expect(page.locator("#new-project-dialog")).to_be_visible()
    assert page.evaluate("document.activeElement.name") == "name"
    page.keyboard.press("Escape")
    expect(page.locator("#new-project-dialog")).to_be_hidden()
    assert page.evaluate("document.activeElement.id") == "new-project", "focus returns to the opener"


def test_resync_reloads_the_list(page, web_stack, api):
    make = api.post("/api/v1/projects", json={"name": "Resync Film"})
    assert make.status_code == 201
    open_gallery(page, web_stack)
    expect(card(page, "resync-film")).to_be_visible()
    # Lose a card and resume from an id the API cannot place: it answers "resync".
    page.evaluate("document.getElementById('card-resync-film').remove()")
    page.evaluate("window.Auteur.stream.lastId = 'not-an-id'; window.Auteur.stream.socket.close()")
    expect(card(page, "resync-film")).to_be_visible(timeout=LIVE_DEADLINE_MS)
    expect(page.locator("#live")).to_have_attribute("data-state", "live")
