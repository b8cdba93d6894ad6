"""The Auteur REST API (Falcon, ASGI): edits specs, stores uploads, enqueues jobs, reports status.

It never imports ``controller`` or ``worker``.
"""
