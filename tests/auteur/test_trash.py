"""auteur.trash: the one reader of trash records, shared by the controller and the API."""

from __future__ import annotations

import msgspec

from auteur.layout import TRASH_DIR
from auteur.trash import TrashEntry, find_entry, read_entries


def put(state, entry: TrashEntry, *, folder: bool = True) -> None:
    root = state / TRASH_DIR
    root.mkdir(parents=True, exist_ok=True)
    (root / f"{entry.entry}.json").write_bytes(msgspec.json.encode(entry))
    if folder:
        (root / entry.entry).mkdir()


def entry(name: str, deleted_at: float) -> TrashEntry:
    return TrashEntry(entry=f"{name}-{int(deleted_at)}", id=name, name=name.title(), folder=name, deleted_at=deleted_at)


def test_no_trash_folder_is_an_empty_trash(tmp_path):
    assert read_entries(tmp_path) == []


def test_complete_entries_newest_first_and_nothing_half_there(tmp_path):
    old, new, same_project = entry("film", 100.0), entry("doc", 300.0), entry("film", 200.0)
    for e in (old, new, same_project):
        put(tmp_path, e)
    put(tmp_path, entry("moved-half-way", 400.0), folder=False)  # a move cut short: no folder
    root = tmp_path / TRASH_DIR
    (root / "torn.json").write_bytes(b'{"entry": "to')  # not JSON
    (root / "wrong.json").write_bytes(b'{"entry": 3}')  # JSON, not a record
    (root / ".purging-x.json").write_bytes(msgspec.json.encode(entry("x", 500.0)))  # hidden
    (root / "notes.txt").write_text("not a record")

    assert [e.entry for e in read_entries(tmp_path)] == [new.entry, same_project.entry, old.entry]


def test_find_by_entry_id_or_name_newest_first(tmp_path):
    for e in (entry("film", 100.0), entry("film", 200.0), entry("doc", 300.0)):
        put(tmp_path, e)
    entries = read_entries(tmp_path)
    assert find_entry(entries, "film-100").deleted_at == 100.0
    assert find_entry(entries, "film").deleted_at == 200.0  # the id: the newest of the two
    assert find_entry(entries, "Doc").entry == "doc-300"  # the name
    assert find_entry(entries, "nothing") is None
