"""``python -m worker``: an RQ worker on queue ``default`` (the ``worker`` service).

``python -m worker health`` exits 0 while a worker on this host is registered in
Redis with a fresh heartbeat (the compose health check).
"""

from __future__ import annotations

import logging
import sys

from auteur.redisbus import connect
from auteur.rqjobs import RQJobs
from auteur.settings import from_env
from auteur.uploadviews import RedisUploadView
from worker import jobs
from worker.service import health, make_worker


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = from_env()
    if not settings.redis_url:
        print("REDIS_URL is not set: in the embedded default, jobs run inside `python -m launcher`", file=sys.stderr)
        return 2
    if argv[1:2] == ["health"]:
        return health(settings)
    # Posters for ingested videos go back on the queue, like any job.
    queue = RQJobs(settings.redis_url, heartbeat_seconds=settings.worker_heartbeat_seconds)
    jobs.configure(settings, view=RedisUploadView(connect(settings.redis_url)), queue=queue)
    make_worker(settings).work(with_scheduler=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
