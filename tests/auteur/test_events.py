import auteur.events as events
from auteur.events import IdMaker, Journal, id_key


class Clock:
    def __init__(self):
        self.now = 1_800_000_000.0

    def __call__(self):
        return self.now


def test_ids_are_ordered_even_when_the_clock_steps_back():
    clock = Clock()
    make = IdMaker(clock)
    first = make()
    second = make()
    clock.now -= 10
    third = make()
    clock.now += 20
    fourth = make()
    keys = [id_key(i) for i in (first, second, third, fourth)]
    assert keys == sorted(keys) and len(set(keys)) == 4


def test_journal_replays_after_an_id_and_survives_a_restart(tmp_path):
    journal = Journal(tmp_path)
    ids = [journal.append("project.created", {"id": f"p{i}"}).id for i in range(5)]
    journal.close()
    reopened = Journal(tmp_path)
    complete, replay = reopened.since(ids[1])
    assert complete and [e.project["id"] for e in replay] == ["p2", "p3", "p4"]
    newer = reopened.append("project.updated", {"id": "p4"})
    assert id_key(newer.id) > id_key(ids[-1])
    assert reopened.since(newer.id) == (True, [])


def test_a_torn_last_line_is_ignored(tmp_path):
    journal = Journal(tmp_path)
    first = journal.append("project.created", {"id": "a"})
    journal.close()
    [segment] = journal.segments()
    with open(segment, "ab") as handle:
        handle.write(b'{"id": "999-0", "type": "proj')
    complete, replay = Journal(tmp_path).since("0-0")
    assert complete and [e.id for e in replay] == [first.id]


def test_an_id_older_than_what_is_kept_asks_for_a_resync(tmp_path, monkeypatch):
    monkeypatch.setattr(events, "SEGMENT_EVENTS", 3)
    monkeypatch.setattr(events, "KEEP_SEGMENTS", 2)
    journal = Journal(tmp_path)
    ids = [journal.append("project.updated", {"n": i}).id for i in range(12)]
    complete, replay = journal.since(ids[0])
    assert not complete and replay == []
    complete, replay = journal.since(ids[7])
    assert complete and [e.data for e in replay] == [{}] * 4
    assert [e.project["n"] for e in replay] == [8, 9, 10, 11]
