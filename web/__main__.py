"""``python -m web``: the gallery alone on ``AUTEUR_WEB_PORT`` (the ``frontend`` service).

The embedded launcher (``make up``) serves it in-process instead.
"""

import os

import uvicorn


def main() -> None:
    port = int(os.environ.get("AUTEUR_WEB_PORT", "3000"))
    uvicorn.run("web.asgi:app", host="0.0.0.0", port=port, log_level="info", proxy_headers=True)


main()
