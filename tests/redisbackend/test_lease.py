"""redisbackend.lease: the active controller's lease and fencing token, on a real redis-server."""

from __future__ import annotations

import threading
import time

import pytest
from helpers import wait_for

from auteur.leases import LeaseLost
from redisbackend.lease import FENCE_KEY, LEASE_KEY, RedisLease

FAST = {"duration": 1.5, "renew_deadline": 1.0, "retry": 0.2}


class Clock:
    """A monotonic clock the test moves: what a process paused with SIGSTOP sees when it resumes."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.offset


def test_one_holder_at_a_time_and_each_new_holder_a_larger_token(redis_server):
    a, b = RedisLease(redis_server.url, **FAST), RedisLease(redis_server.url, **FAST)
    assert a.try_acquire()
    assert not b.try_acquire()
    a.check()
    with pytest.raises(LeaseLost):
        b.check()
    assert b.holder() == f"{a.identity} {a.token}"
    a.release()
    assert redis_server.client().get(LEASE_KEY) is None
    assert b.try_acquire()
    assert b.token is not None and a.token is not None and b.token > a.token
    assert int(redis_server.client().get(FENCE_KEY)) == b.token


def test_a_lease_nobody_renews_expires_and_its_old_holder_is_fenced_off(redis_server):
    a, b = RedisLease(redis_server.url, **FAST), RedisLease(redis_server.url, **FAST)
    assert a.try_acquire()  # never kept: like a holder killed right after taking it
    assert not b.try_acquire()
    assert 0 < b.retry_seconds() <= FAST["retry"]
    wait_for(b.try_acquire, timeout=5, interval=0.05, what="the lease expires and the standby takes it")
    with pytest.raises(LeaseLost):
        a.check()


def test_renewal_keeps_the_lease_past_its_duration(redis_server):
    a, b = RedisLease(redis_server.url, **FAST), RedisLease(redis_server.url, **FAST)
    lost = threading.Event()
    assert a.try_acquire()
    a.keep(lost.set)
    try:
        deadline = time.monotonic() + 3 * FAST["duration"]
        while time.monotonic() < deadline:
            assert not b.try_acquire()
            a.check()
            time.sleep(0.1)
        assert not lost.is_set()
        remaining = redis_server.client().pttl(LEASE_KEY)
        assert FAST["duration"] * 1000 - 2 * FAST["retry"] * 1000 <= remaining <= FAST["duration"] * 1000
    finally:
        a.release()
    assert b.try_acquire(), "a released lease is free at once"


def test_a_paused_holder_finds_its_lease_lost_before_it_writes(redis_server):
    clock = Clock()
    a = RedisLease(redis_server.url, clock=clock, **FAST)
    lost = threading.Event()
    assert a.try_acquire()
    a.keep(lost.set)
    a.check()
    clock.offset += FAST["renew_deadline"] + 0.5  # the process was stopped this long
    with pytest.raises(LeaseLost, match="last renewed"):
        a.check()
    wait_for(lost.is_set, timeout=5, what="the renewal thread gives the lease up")
    a.release()  # lost: it must not delete a key that may be another holder's now
    b = RedisLease(redis_server.url, **FAST)
    b.try_acquire() or wait_for(b.try_acquire, timeout=5, interval=0.05, what="expiry")
    a.release()
    assert redis_server.client().get(LEASE_KEY).decode() == f"{b.identity} {b.token}"


def test_a_holder_whose_key_was_taken_over_is_fenced_even_within_its_deadline(redis_server):
    a = RedisLease(redis_server.url, clock=lambda: 0.0, **FAST)  # its own clock says no time passed
    assert a.try_acquire()
    redis_server.client().set(LEASE_KEY, "someone-else 99")
    with pytest.raises(LeaseLost, match="someone-else 99"):
        a.check()


def test_renewal_gives_up_when_another_holds_the_key(redis_server):
    a = RedisLease(redis_server.url, **FAST)
    lost = threading.Event()
    assert a.try_acquire()
    a.keep(lost.set)
    redis_server.client().set(LEASE_KEY, "someone-else 99", px=10_000)
    wait_for(lost.is_set, timeout=5, what="the renewal finds the key is not its own")
    a.release()
    assert redis_server.client().get(LEASE_KEY) == b"someone-else 99"


def test_redis_away_within_the_deadline_keeps_the_lease_then_loses_it(redis_server):
    a = RedisLease(redis_server.url, **FAST)
    lost = threading.Event()
    assert a.try_acquire()
    a.keep(lost.set)
    redis_server.stop()
    a.check()  # Redis does not answer, but the last renewal was under the deadline ago
    wait_for(lost.is_set, timeout=5, what="renew deadline passes without Redis")
    with pytest.raises(LeaseLost):
        a.check()
    a.release()


def test_bad_timings_are_refused():
    with pytest.raises(ValueError, match="renew deadline"):
        RedisLease("redis://127.0.0.1:1/0", duration=10, renew_deadline=10, retry=2)
