"""``python -m worker``: an RQ worker on queue ``default`` (the ``worker`` service).

``python -m worker health`` exits 0 while a worker on this host is registered in
Redis with a fresh heartbeat (the compose health check).
"""

from __future__ import annotations

import logging
import socket
import sys
import time

from rq import Worker

from auteur.redisbus import RedisBus, connect
from auteur.rqjobs import WORKER_FRESH_SECONDS
from auteur.settings import from_env
from worker import jobs


def health(url: str) -> int:
    host = socket.gethostname()
    try:
        workers = Worker.all(connection=connect(url))
    except Exception as exc:
        print(f"worker: Redis unreachable: {exc}", file=sys.stderr)
        return 1
    now = time.time()
    for worker in workers:
        beat = worker.last_heartbeat
        if worker.hostname == host and beat is not None and now - beat.timestamp() < WORKER_FRESH_SECONDS:
            print(f"worker: {worker.name} running")
            return 0
    print("worker: no live worker on this host", file=sys.stderr)
    return 1


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = from_env()
    if not settings.redis_url:
        print("REDIS_URL is not set: in the embedded default, jobs run inside `python -m launcher`", file=sys.stderr)
        return 2
    if argv[1:2] == ["health"]:
        return health(settings.redis_url)
    jobs.configure(settings, RedisBus(settings.redis_url))
    worker = Worker(["default"], connection=connect(settings.redis_url))
    worker.work(with_scheduler=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
