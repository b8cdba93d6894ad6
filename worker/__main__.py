"""``python -m worker``: an RQ worker on queue ``default`` (the ``worker`` service).

``python -m worker health`` exits 0 while a worker on this host is registered in
Redis with a fresh heartbeat. A worker started before Redis answers waits for it (up
to ``REDIS_WAIT_SECONDS``), so the services of a stack may start in any order.
"""

from __future__ import annotations

import logging
import sys
import time

import redis

from auteur.redisbus import connect
from auteur.rqjobs import RQJobs
from auteur.settings import from_env
from auteur.uploadviews import RedisUploadView
from worker import jobs
from worker.service import health, make_worker

log = logging.getLogger("auteur.worker")

REDIS_WAIT_SECONDS = 60.0


def wait_for_redis(url: str, timeout: float = REDIS_WAIT_SECONDS) -> bool:
    """True once Redis answers a PING; False if it did not within ``timeout`` seconds."""
    deadline, said = time.monotonic() + timeout, False
    client = connect(url)
    while True:
        try:
            client.ping()
            return True
        except redis.exceptions.ConnectionError as exc:
            if not said:
                log.info("waiting for Redis to answer (%s)", exc)
                said = True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.2)


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = from_env()
    if not settings.redis_url:
        print("REDIS_URL is not set: in the embedded default, jobs run inside `python -m launcher`", file=sys.stderr)
        return 2
    if argv[1:2] == ["health"]:
        return health(settings)
    if not wait_for_redis(settings.redis_url):
        print(f"Redis did not answer within {REDIS_WAIT_SECONDS:.0f} s; exiting (the stack restarts the worker)", file=sys.stderr)
        return 1
    # Posters for ingested videos go back on the queue, like any job.
    queue = RQJobs(settings.redis_url, heartbeat_seconds=settings.worker_heartbeat_seconds)
    jobs.configure(settings, view=RedisUploadView(connect(settings.redis_url)), queue=queue)
    make_worker(settings).work(with_scheduler=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
