"""``python -m launcher``: the whole stack on the embedded default (``make up``)."""

import sys

import anyio

from auteur import logs
from auteur.settings import from_env
from launcher.embedded import EmbeddedStack


def main() -> int:
    settings = from_env()
    logs.configure(settings.log_format)
    settings.specs.mkdir(parents=True, exist_ok=True)
    settings.workspace.mkdir(parents=True, exist_ok=True)
    stack = EmbeddedStack(settings, host="0.0.0.0")
    anyio.run(stack.serve)
    return 0


sys.exit(main())
