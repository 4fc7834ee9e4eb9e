"""The HTTP API's routes, one module per area, each with a ``setup(app)`` that ``gateway.app``
calls. They share ``gateway.http``; none imports the app factory."""
