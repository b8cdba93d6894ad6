"""``GET /api/v1/projects/{id}/history`` over real HTTP, judged against the real ``git log``."""

from __future__ import annotations

import os

from helpers import git, wait_for

from tests.api.test_assets import body, create_project, part, post_raw, wait_completed


def git_log(root) -> list[tuple[str, str, str, dict[str, str]]]:
    """(commit, author, subject, {path: A|M|D}) per commit, newest first, as git itself tells."""
    out = git(root, "log", "--format=%x00%H%x01%an <%ae>%x01%s", "--name-status", "--no-renames")
    found = []
    for record in out.split("\x00")[1:]:
        head, _, rest = record.partition("\n")
        commit, author, subject = head.split("\x01")
        changes = {line.split("\t", 1)[1]: line.split("\t", 1)[0] for line in rest.strip().splitlines() if "\t" in line}
        found.append((commit, author, subject, changes))
    return found


def settled_head(client, root, project: str = "film") -> str:
    """The head git shows, once the API reports it too (the controller records it after the ingest)."""
    head = git(root, "rev-parse", "HEAD").strip()
    wait_for(lambda: client.get(f"/api/v1/projects/{project}/git/status").json()["current_commit"] == head, 30,
             what="the API to report the new head")  # fmt: skip
    return head


def test_history_is_what_git_log_says_newest_first_with_sizes(stack, client):
    root = stack.settings.workspace / create_project(client)
    take_one, take_two, notes = os.urandom(300_000), os.urandom(400_000), b"INT. STUDIO - NIGHT\n"
    for files in ([("take.wav", take_one), ("notes.txt", notes)], [("take.wav", take_two)]):
        answer = post_raw(client, "film", body(*(part(name, data) for name, data in files)),
                          asset_type="audio")  # fmt: skip
        assert answer.status_code == 200, answer.text
        wait_completed(stack, answer.json()["uploads"])
    settled_head(client, root)
    page = client.get("/api/v1/projects/film/history").json()
    logged = git_log(root)
    assert [i["commit"] for i in page["items"]] == [c for c, *_ in logged] and page["next"] is None
    letters = {"added": "A", "modified": "M", "deleted": "D"}
    for item, (commit, author, subject, changes) in zip(page["items"], logged, strict=True):
        assert item["author"] == author and item["message"].splitlines()[0] == subject
        assert {f["path"]: letters[f["change"]] for f in item["files"]} == changes, commit
    newest = {f["path"]: f for f in page["items"][0]["files"]}
    assert newest["assets/audio/take.wav"] == {"path": "assets/audio/take.wav", "change": "modified", "size": 400_000}
    added = {f["path"]: f["size"] for i in page["items"][1:] for f in i["files"] if f["change"] == "added"}
    assert added["assets/audio/take.wav"] == 300_000  # the LFS file's real size, from its pointer
    assert added["assets/audio/notes.txt"] == len(notes)


def test_history_pages_with_before_and_refuses_what_is_not_a_commit(stack, client):
    root = stack.settings.workspace / create_project(client)
    for i in range(3):
        answer = post_raw(client, "film", body(part(f"take {i}.wav", os.urandom(1000))))
        wait_completed(stack, answer.json()["uploads"])
    settled_head(client, root)
    everything = [c for c, *_ in git_log(root)]
    seen, before = [], None
    while True:
        page = client.get("/api/v1/projects/film/history", params={"limit": 2, **({"before": before} if before else {})}).json()
        seen += [i["commit"] for i in page["items"]]
        assert len(page["items"]) <= 2
        if page["next"] is None:
            break
        before = page["next"]
    assert seen == everything and len(everything) == 4
    assert client.get("/api/v1/projects/film/history", params={"before": "0" * 40}).status_code == 404
    bad = client.get("/api/v1/projects/film/history", params={"before": "HEAD~1"})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "before"
    assert client.get("/api/v1/projects/film/history", params={"limit": 0}).status_code == 422
    assert client.get("/api/v1/projects/nothing-here/history").status_code == 404
