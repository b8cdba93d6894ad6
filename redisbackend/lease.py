"""The active controller's lease in Redis, with a fencing token (``auteur.leases.Lease``).

Built by ``redisbackend.backends_for`` for ``auteur run`` in Redis mode, where several
controllers may run on several machines over a workspace on a network filesystem, and a
file lock cannot be trusted. The lease is one key, ``auteur:controller:lease``, whose
value is the holder's identity and its fencing token (``INCR auteur:controller:fence`` at
each acquisition, so every new leader's token is larger than all before it), with an
expiry (``duration``, 15 s). The holder renews it every ``retry`` seconds (2 s) from a
thread of its own, and gives it up as lost when the key holds another value or when
``renew_deadline`` (10 s) has passed since the last renewal it saw succeed: the lease is
then still valid for at least ``duration - renew_deadline`` seconds in Redis, so the old
leader stops writing before a new one can start. A standby retries every ``retry``
seconds, and sleeps exactly until the key expires when that comes sooner.

``check`` is the fence, called before every write to a project folder: it fails once the
lease is lost, once the local renew deadline has passed (a process paused with SIGSTOP
finds that at once when it resumes: the monotonic clock went on), and when Redis holds
another holder's value. When Redis does not answer, the local deadline alone decides.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable

import redis

from auteur.leases import LeaseLost
from redisbackend.connection import connect

log = logging.getLogger("auteur.controller")

LEASE_KEY = "auteur:controller:lease"
FENCE_KEY = "auteur:controller:fence"

# KEYS: lease, fence; ARGV: identity, duration in ms. The new token, or nil while another holds it.
_ACQUIRE = """
if redis.call('exists', KEYS[1]) == 1 then return false end
local token = redis.call('incr', KEYS[2])
redis.call('set', KEYS[1], ARGV[1] .. ' ' .. token, 'PX', ARGV[2])
return token
"""
# KEYS: lease; ARGV: the value held, duration in ms. 1 when renewed, 0 when it is not ours.
_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


def _text(value: bytes | str | None) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


def identity() -> str:
    """This process, as the lease names it: host (a container's is its id), pid, and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class RedisLease:
    def __init__(self, url: str, *, duration: float = 15.0, renew_deadline: float = 10.0, retry: float = 2.0,
                 clock: Callable[[], float] = time.monotonic, client: redis.Redis | None = None) -> None:  # fmt: skip
        if not 0 < retry < renew_deadline < duration:
            raise ValueError(f"lease timings must satisfy 0 < retry ({retry}) < renew deadline ({renew_deadline}) < duration ({duration})")
        self.redis = client or connect(url)
        self.duration_ms = int(duration * 1000)
        self.renew_deadline = renew_deadline
        self.retry = retry
        self.clock = clock
        self.identity = identity()
        self.value: str | None = None  # "<identity> <token>" while this process leads
        self.token: int | None = None
        self.renewed_at = 0.0  # when the last renewal that succeeded was sent (self.clock)
        self._lost = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._acquire = self.redis.register_script(_ACQUIRE)
        self._renew = self.redis.register_script(_RENEW)
        self._release = self.redis.register_script(_RELEASE)

    def try_acquire(self) -> bool:
        sent = self.clock()
        try:
            token = self._acquire(keys=[LEASE_KEY, FENCE_KEY], args=[self.identity, self.duration_ms])
        except redis.RedisError as exc:
            log.warning("standby: cannot reach Redis for the controller lease: %s", exc)
            return False
        if token is None:
            return False
        self.token = int(token)
        self.value = f"{self.identity} {self.token}"
        self.renewed_at = sent
        self._lost.clear()
        log.info("controller lease taken by %s (fencing token %d)", self.identity, self.token)
        return True

    def holder(self) -> str:
        try:
            value = _text(self.redis.get(LEASE_KEY))
        except redis.RedisError:
            return "unknown (Redis does not answer)"
        return value or "nobody"

    def retry_seconds(self) -> float:
        """``retry``, or less when the holder's lease runs out sooner (its remaining time)."""
        try:
            remaining_ms = self.redis.pttl(LEASE_KEY)
        except redis.RedisError:
            return self.retry
        if remaining_ms < 0:  # no key (-2) or no expiry (-1): try again at once, or at the usual pace
            return 0.0 if remaining_ms == -2 else self.retry
        return min(self.retry, remaining_ms / 1000 + 0.01)

    def keep(self, on_lost: Callable[[], None]) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._renewing, args=(on_lost,), name="lease-renewal", daemon=True)
        self._thread.start()

    def _renewing(self, on_lost: Callable[[], None]) -> None:
        while not self._stop.wait(self.retry):
            if self._renew_once():
                continue
            self._lost.set()
            log.error("controller lease lost (token %s): stopping before anything more is written", self.token)
            on_lost()
            return

    def _renew_once(self) -> bool:
        """True while the lease is ours: renewed now, or Redis is away but the deadline has not passed."""
        sent = self.clock()
        if self.value is None or sent - self.renewed_at > self.renew_deadline:  # paused, or Redis away too long
            return False
        try:
            renewed = self._renew(keys=[LEASE_KEY], args=[self.value, self.duration_ms])
        except redis.RedisError as exc:
            log.warning("controller lease: renewal failed (%s); lost in %.1f s unless Redis answers",
                        exc, self.renew_deadline - (sent - self.renewed_at))  # fmt: skip
            return True
        if not renewed:
            return False
        self.renewed_at = sent
        return True

    def check(self) -> None:
        if self.value is None or self._lost.is_set():
            raise LeaseLost("this controller does not hold the lease")
        age = self.clock() - self.renewed_at
        if age > self.renew_deadline:
            self._lost.set()
            raise LeaseLost(f"the lease was last renewed {age:.1f} s ago (deadline {self.renew_deadline:g} s)")
        try:
            current = _text(self.redis.get(LEASE_KEY))
        except redis.RedisError:
            return  # within the deadline nobody else can hold it
        if current != self.value:
            self._lost.set()
            raise LeaseLost(f"the lease is held by {current or 'nobody'}, not by this controller (token {self.token})")

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        if self.value is not None and not self._lost.is_set():
            try:
                self._release(keys=[LEASE_KEY], args=[self.value])
                log.info("controller lease released (token %s)", self.token)
            except redis.RedisError as exc:
                log.warning("controller lease: release failed (%s); it expires by itself", exc)
        self.value = None
