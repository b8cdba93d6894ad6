"""The embedded launcher: controller, API, web gallery and an in-process job runner
in one process, joined by an in-process event bus (the default without ``REDIS_URL``).

The only package that imports ``controller``, ``api`` and ``worker`` together.
"""
