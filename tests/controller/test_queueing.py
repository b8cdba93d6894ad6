import anyio
import pytest

from controller.queueing import HIGH, LOW, Backoff, WorkQueue


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_backoff_is_exponential_and_capped():
    backoff = Backoff(base=0.5, cap=10)
    assert [backoff.delay(n) for n in range(1, 7)] == [0.5, 1, 2, 4, 8, 10]


@pytest.mark.anyio
async def test_keys_are_deduplicated_and_fresh_events_go_first():
    queue = WorkQueue()
    for key in ("a", "b", "c"):
        queue.add(key, LOW)
    queue.add("a", LOW)
    queue.add("fresh", HIGH)
    queue.add("c", HIGH)  # raising the priority of a waiting key
    assert len(queue) == 4
    order = [await queue.get() for _ in range(4)]
    assert order == ["fresh", "c", "a", "b"]


@pytest.mark.anyio
async def test_an_active_key_is_never_handed_out_twice_but_runs_again():
    queue = WorkQueue()
    queue.add("a")
    assert await queue.get() == "a"
    queue.add("a")  # an event while "a" is being reconciled
    queue.add("b")
    assert await queue.get() == "b"
    with anyio.move_on_after(0.2) as scope:
        await queue.get()
    assert scope.cancelled_caught, "a key must not be handed out while active"
    queue.done("a")
    assert await queue.get() == "a"


@pytest.mark.anyio
async def test_failures_retry_with_backoff_and_stalled_keys_wait():
    clock = FakeClock()
    queue = WorkQueue(clock=clock, backoff=Backoff(base=1, cap=4))
    queue.add("a")
    await queue.get()
    assert queue.done("a", retry=True) == 1
    assert queue._promote() == pytest.approx(1)
    clock.now = 1.0
    assert await queue.get() == "a"
    assert queue.done("a", retry=True) == 2
    clock.now = 3.0
    assert await queue.get() == "a"
    queue.done("a")  # success resets the failure count
    assert queue.failures == {}
    queue.add("s")
    await queue.get()
    queue.done("s", stalled=True)
    assert len(queue) == 0


@pytest.mark.anyio
async def test_requeue_after_delay():
    clock = FakeClock()
    queue = WorkQueue(clock=clock)
    queue.add("a")
    await queue.get()
    queue.done("a", after=5)
    assert len(queue) == 1
    with anyio.move_on_after(0.1):
        await queue.get()
    clock.now = 5
    assert await queue.get() == "a"


@pytest.mark.anyio
async def test_busy_is_told_once_when_work_starts_and_once_when_none_is_left():
    clock = FakeClock()
    queue = WorkQueue(clock=clock)
    told = []
    queue.on_busy = told.append
    queue.add("a")
    queue.add("b")
    key = await queue.get()
    queue.add(key)  # active: runs again afterwards
    queue.done(key)
    assert told == [True]
    for _ in range(2):
        queue.done(await queue.get())
    assert told == [True, False] and not queue.busy
    queue.add_after("later", 5.0)  # waiting for its time is not work yet
    assert told == [True, False]
    clock.now = 6.0
    key = await queue.get()
    assert key == "later" and told == [True, False, True]
    queue.done(key)
    assert told == [True, False, True, False]
