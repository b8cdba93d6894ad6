"""The browser gallery: a small ASGI app rendering jinja2 pages from the REST API.

``web.app.create_app`` builds it; the embedded launcher serves it next to the API,
``python -m web`` serves it alone (the ``frontend`` service). It talks to the API
over HTTP only and never imports ``controller``, ``worker`` or ``api``; the pages'
JavaScript calls the API directly and follows its event WebSocket.
"""
