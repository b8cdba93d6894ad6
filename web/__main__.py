"""``python -m web``: the gallery alone on ``AUTEUR_WEB_PORT`` (the ``frontend`` service).

The embedded launcher (``make up``) serves it in-process instead.
"""

import uvicorn

from auteur.settings import from_env


def main() -> None:
    # web.visitors judges X-Forwarded-* itself (AUTEUR_TRUSTED_PROXIES): uvicorn must not replace the peer's address.
    uvicorn.run("web.asgi:app", host="0.0.0.0", port=from_env().web_port, log_level="info", proxy_headers=False)


main()
