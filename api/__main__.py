"""``python -m api``: serve the API alone with uvicorn (the ``backend`` service).

Used in the multi-service stack, where ``REDIS_URL`` joins it to the controller and
workers; the embedded default runs it inside ``python -m launcher`` instead.
"""

import uvicorn

from auteur import logs
from auteur.settings import from_env


def main() -> None:
    settings = from_env()
    logs.configure(settings.log_format)
    # uvicorn's own loggers go through the same handler (log_config=None); api.auth judges
    # X-Forwarded-* itself (AUTEUR_TRUSTED_PROXIES), so uvicorn must not (proxy_headers=False).
    uvicorn.run("api.asgi:app", host=settings.api_host, port=settings.api_port, log_level="info", lifespan="on",
                proxy_headers=False, log_config=None)  # fmt: skip


if __name__ == "__main__":
    main()
