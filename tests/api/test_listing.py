"""``GET /api/v1/projects`` as a view over many projects: search, order, status filter,
counts per status and paging, over real HTTP against the embedded stack."""

from __future__ import annotations

import json
import os
import random
import time
import unicodedata

from helpers import wait_for, write_spec

from auteur.status import Phase

NAMES = ["Alpha One", "beta two", "Gamma Three", "Émile Zola", "Straße Film", "Zeta", "alpha again"]


def listing(client, **params) -> tuple[list[str], int, dict[str, int]]:
    response = client.get("/api/v1/projects", params=params)
    assert response.status_code == 200, response.text
    return [p["name"] for p in response.json()], int(response.headers["X-Total-Count"]), json.loads(response.headers["X-Status-Counts"])


def drop_spec(settings, name: str, body: str) -> None:
    """A spec file as an editor saves one: whole, renamed into place (the controller never sees half of it)."""
    write_spec(settings, f".{name}.tmp", body)
    os.rename(settings.specs / f".{name}.tmp", settings.specs / f"{name}.yaml")


def converged(client, ready: int, failed: int = 0) -> None:
    def done() -> bool:
        _, total, counts = listing(client)
        return counts["ready"] == ready and counts["failed"] == failed and total == ready + failed

    wait_for(done, 60, what=f"{ready} projects ready and {failed} failed")


def test_search_order_filter_counts_and_paging(client, api_settings):
    for name in NAMES:
        drop_spec(api_settings, name, f"name: {name}\n")
    drop_spec(api_settings, "Alpha Broken", "name: Alpha Broken\nqualty: draft\n")
    converged(client, len(NAMES), 1)

    names, total, counts = listing(client)
    assert total == len(NAMES) + 1 and counts["ready"] == len(NAMES) and counts["failed"] == 1
    assert set(counts) == {phase.value for phase in Phase}

    # Case-insensitive substring of the name; counts are those of the search, whatever the status filter.
    names, total, counts = listing(client, q="ALPHA")
    assert sorted(names) == ["Alpha Broken", "Alpha One", "alpha again"] and total == 3
    assert counts["ready"] == 2 and counts["failed"] == 1
    names, total, counts = listing(client, q="alpha", status="ready")
    assert sorted(names) == ["Alpha One", "alpha again"] and total == 2 and counts["failed"] == 1
    assert listing(client, q="alpha", status="failed")[0] == ["Alpha Broken"]

    # Unicode: composed or decomposed, any case; ß case-folds to ss.
    assert listing(client, q=unicodedata.normalize("NFD", "ÉMILE"))[0] == ["Émile Zola"]
    assert listing(client, q="émile")[0] == ["Émile Zola"]
    assert listing(client, q="STRASSE")[0] == ["Straße Film"]
    assert listing(client, q="nothing like it") == ([], 0, dict.fromkeys(counts, 0))

    by_name = listing(client, sort="name")[0]
    assert by_name == ["alpha again", "Alpha Broken", "Alpha One", "beta two", "Émile Zola", "Gamma Three", "Straße Film", "Zeta"]
    assert listing(client, sort="name", q="a", status="ready")[0] == [n for n in by_name if "a" in n.casefold() and n != "Alpha Broken"]

    # Paging: pages of one view line up, whatever the order, and the total stays the view's.
    for sort in ("newest", "name", "changed"):
        every = listing(client, sort=sort)[0]
        pages = [listing(client, sort=sort, limit=3, offset=offset) for offset in range(0, len(every), 3)]
        assert [n for page in pages for n in page[0]] == every
        assert {page[1] for page in pages} == {len(every)}
    assert listing(client, limit=3, offset=100)[0:2] == ([], len(NAMES) + 1)


def test_changed_puts_the_last_commit_first(client, api_settings):
    for name in ("Old One", "Old Two", "Old Three"):
        drop_spec(api_settings, name, f"name: {name}\n")
    converged(client, 3)
    before = listing(client, sort="changed")[0]
    last = before[-1]
    # Commit times are whole seconds: the next commit must fall in a later one to order strictly.
    newest = max(p["last_commit_at"] for p in client.get("/api/v1/projects").json())
    wait_for(lambda: time.time() >= newest + 1.05, 5, what="the next second")
    (api_settings.workspace / last / "assets" / "scripts" / "draft.txt").write_text("a new scene\n")

    def committed() -> bool:
        project = client.get(f"/api/v1/projects/{last.lower().replace(' ', '-')}").json()
        return project["asset_count"] == 1 and not project["pending_files"]

    wait_for(committed, 30, what="the new file committed")
    after = listing(client, sort="changed")[0]
    assert after[0] == last and sorted(after) == sorted(before)
    times = [p["last_commit_at"] for p in client.get("/api/v1/projects", params={"sort": "changed"}).json()]
    assert times == sorted(times, reverse=True)


def test_bad_parameters_are_refused(client, api_settings):
    drop_spec(api_settings, "Only", "name: Only\n")
    converged(client, 1)
    for params, field in (({"sort": "oldest"}, "sort"), ({"q": "x" * 101}, "q"), ({"status": "done"}, "status")):
        response = client.get("/api/v1/projects", params=params)
        assert response.status_code == 422, (params, response.text)
        assert response.json()["error"]["field"] == field
    names, total, counts = listing(client, q="x" * 100)
    assert names == [] and total == 0 and set(counts.values()) == {0}


def test_orders_kept_in_place_match_a_fresh_sort(api_settings):
    """The index moves one changed project within the orders it has built; they must stay
    what sorting everything again would give (ties, projects without times, removals)."""
    from api.config import ApiConfig
    from api.index import SORTS, ProjectIndex
    from auteur.status import Phase, ProjectStatus

    api_settings.specs.mkdir(parents=True, exist_ok=True)
    index = ProjectIndex(ApiConfig(settings=api_settings))
    rng = random.Random(11)

    def some_project(i: int) -> ProjectStatus:
        phase = rng.choice([Phase.READY, Phase.READY, Phase.FAILED, Phase.PROCESSING, Phase.UNMANAGED])
        created = rng.choice([None, "2026-01-01T00:00:00Z", f"2026-01-0{rng.randint(1, 9)}T00:00:00Z"])
        commit = rng.choice([None, 1.0e9, float(rng.randint(1, 5))])
        return ProjectStatus(id=f"p{i}", name=rng.choice(["Émile", "emile", "Zed", "alpha", f"n{i}"]), status=phase,
                             created_at=created, last_commit_at=commit)  # fmt: skip

    for i in range(200):
        index.put(some_project(i))
    for sort in SORTS:
        index.list_json(sort=sort)  # build every order
    for step in range(300):
        if step % 7 == 0:
            index.remove(f"p{rng.randrange(220)}")
        else:
            index.put(some_project(rng.randrange(220)))
    kept = {sort: json.loads(index.list_json(sort=sort)[0]) for sort in SORTS}
    index._orders.clear()  # what a fresh sort gives
    index._views.clear()
    assert kept == {sort: json.loads(index.list_json(sort=sort)[0]) for sort in SORTS}
