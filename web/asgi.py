"""The ASGI entry point for uvicorn: ``uvicorn web.asgi:app --port 3000``.

Reads the API at ``AUTEUR_API_INTERNAL_URL`` (default: ``AUTEUR_API_URL``, else
``http://localhost:<AUTEUR_API_PORT>``); browsers are sent to ``AUTEUR_API_URL``. With
``AUTEUR_AUTH=proxy``, the proxy's identity headers are passed on from the addresses in
``AUTEUR_TRUSTED_PROXIES``.
"""

import os

from auteur.settings import from_env
from web.app import create_app

_settings = from_env()
app = create_app(os.environ.get("AUTEUR_API_INTERNAL_URL") or _settings.public_api_url, _settings.public_api_url,
                 trusted_proxies=_settings.trusted_proxies)  # fmt: skip
