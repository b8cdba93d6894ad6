"""``python -m api``: serve the API alone with uvicorn (the ``backend`` service).

Used in the multi-service stack, where ``REDIS_URL`` joins it to the controller and
workers; the embedded default runs it inside ``python -m launcher`` instead.
"""

import logging
import os

import uvicorn


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    port = int(os.environ.get("AUTEUR_API_PORT", "8000"))
    host = os.environ.get("AUTEUR_API_HOST", "0.0.0.0")
    uvicorn.run("api.asgi:app", host=host, port=port, log_level="info", lifespan="on", proxy_headers=True)


if __name__ == "__main__":
    main()
