"""``GET /api/v1/audit`` over real HTTP: every change made through the API is in the log,
newest first, by the person who asked (set here by a stand-in for the auth layer)."""

from __future__ import annotations

import pytest
from helpers import wait_for

from tests.api.conftest import as_


def entries(client, **params) -> list[tuple[str, str | None, str | None]]:
    answer = client.get("/api/v1/audit", params=params)
    assert answer.status_code == 200, answer.text
    return [(e["action"], e["actor"], e["project"]) for e in answer.json()["items"]]


def test_every_change_is_in_the_log_newest_first_by_whom_and_on_what(acting, api_settings):
    _, client, _ = acting
    assert client.post("/api/v1/projects", json={"name": "Film"}, headers=as_("Ada")).status_code == 201
    assert client.post("/api/v1/projects", json={"name": "doc"}, headers=as_("Bob")).status_code == 201
    assert client.patch("/api/v1/projects/film", json={"description": "a short"}, headers=as_("Bob")).status_code == 200
    assert client.patch("/api/v1/projects/film", json={"description": "a short"}, headers=as_("Bob")).status_code == 200  # no change
    upload = client.post("/api/v1/projects/film/assets", params={"asset_type": "scripts"},
                         files=[("files", ("draft.txt", b"FADE IN:\n"))], headers=as_("Ada"))  # fmt: skip
    assert upload.status_code == 200
    assert client.delete("/api/v1/projects/film", headers=as_("Bob")).status_code == 204
    [entry] = client.get("/api/v1/trash").json()
    assert client.post(f"/api/v1/trash/{entry['entry']}/restore", headers=as_("Ada")).status_code == 200
    assert client.delete("/api/v1/projects/film", params={"purge": "true"}, headers=as_("Bob")).status_code == 204

    assert entries(client) == [
        ("trash.purge", "Bob", "film"),
        ("project.delete", "Bob", "film"),
        ("trash.restore", "Ada", "film"),
        ("project.delete", "Bob", "film"),
        ("asset.upload", "Ada", "film"),
        ("project.update", "Bob", "film"),
        ("project.create", "Bob", "doc"),
        ("project.create", "Ada", "film"),
    ]
    items = client.get("/api/v1/audit").json()["items"]
    assert items[4]["details"]["path"] == "assets/scripts/draft.txt" and items[4]["details"]["size"] == 9
    assert items[5]["details"] == {"fields": ["description"]}
    assert items[2]["details"] == {"entry": entry["entry"]}
    assert all(isinstance(i["at"], float) for i in items) and [i["at"] for i in items] == sorted((i["at"] for i in items), reverse=True)

    assert entries(client, actor="Ada") == [("trash.restore", "Ada", "film"), ("asset.upload", "Ada", "film"),
                                            ("project.create", "Ada", "film")]  # fmt: skip
    assert entries(client, project="doc") == [("project.create", "Bob", "doc")]
    assert entries(client, project="Film", actor="Bob")[-1] == ("project.update", "Bob", "film")  # a name maps to its id
    assert entries(client, actor="nobody") == []

    walked, before = [], None
    while True:
        page = client.get("/api/v1/audit", params={"limit": 3, **({"before": before} if before is not None else {})}).json()
        assert len(page["items"]) <= 3
        walked += [(e["action"], e["actor"], e["project"]) for e in page["items"]]
        if page["next"] is None:
            break
        before = page["next"]
    assert walked == entries(client)


def test_changes_by_nobody_known_are_logged_with_a_null_actor(client):
    assert client.post("/api/v1/projects", json={"name": "film"}).status_code == 201
    assert client.delete("/api/v1/projects/film").status_code == 204
    assert entries(client) == [("project.delete", None, "film"), ("project.create", None, "film")]


def test_a_refused_create_is_not_logged(client, api_settings):
    (api_settings.workspace / "taken").mkdir(parents=True)  # a foreign folder: the create answers 409
    assert client.post("/api/v1/projects", json={"name": "taken"}).status_code == 409
    assert client.post("/api/v1/projects", json={"name": "bad/name"}).status_code == 422
    wait_for(lambda: client.get("/api/v1/projects/taken").json().get("status") == "unmanaged", 30, what="the spec undone")
    assert entries(client) == []


@pytest.mark.parametrize(
    ("params", "field"),
    [({"limit": "0"}, "limit"), ({"limit": "1001"}, "limit"), ({"limit": "ten"}, "limit"), ({"before": "-1"}, "before"),
     ({"before": "1.5"}, "before"), ({"before": str(2**53 + 1)}, "before")],
)  # fmt: skip
def test_bad_parameters_are_refused_naming_them(client, params, field):
    answer = client.get("/api/v1/audit", params=params)
    assert answer.status_code == 422 and answer.json()["error"]["field"] == field, answer.text


def test_an_empty_log_is_an_empty_page(client):
    assert client.get("/api/v1/audit").json() == {"items": [], "next": None}
