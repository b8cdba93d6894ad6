"""``python -m api``: serve the API alone with uvicorn (the ``backend`` service).

Used in the multi-service stack, where ``REDIS_URL`` joins it to the controller and
workers; the embedded default runs it inside ``python -m launcher`` instead.
"""

import logging

import uvicorn

from auteur.settings import from_env


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = from_env()
    uvicorn.run(
        "api.asgi:app", host=settings.api_host, port=settings.api_port, log_level="info", lifespan="on", proxy_headers=False
    )  # api.auth judges X-Forwarded-* (AUTEUR_TRUSTED_PROXIES)


if __name__ == "__main__":
    main()
