"""``python -m worker``: the process that runs the queue's jobs (the ``worker`` service).

The entry point of Redis mode's worker: it builds the backends once
(``redisbackend.backends_for``), gives the jobs of this process their context
(``worker.jobs.configure``) and runs the RQ worker (``redisbackend.worker``).
``python -m worker health`` exits 0 while a worker on this host is registered in
Redis with a fresh heartbeat. A worker started before Redis answers waits for it
(``redisbackend.worker``), so the services of a stack may start in any order.
"""

from __future__ import annotations

import sys

from auteur import logs
from auteur.settings import from_env
from redisbackend import backends_for
from worker import jobs


def main(argv: list[str]) -> int:
    settings = from_env()
    logs.configure(settings.log_format)
    backends = backends_for(settings)
    if backends.worker is None:
        print("REDIS_URL is not set: in the embedded default, jobs run inside `python -m launcher`", file=sys.stderr)
        return 2
    if argv[1:2] == ["health"]:
        alive, line = backends.worker.health()
        print(line, file=sys.stdout if alive else sys.stderr)
        return 0 if alive else 1
    # Posters for ingested videos go back on the queue, like any job.
    jobs.configure(settings, view=backends.uploads, queue=backends.jobs)
    backends.worker.work()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
