"""The local HTTP API, a front end beside the CLI and the window (the engine never imports it)."""

DEFAULT_PORT = 5100  # here, not in app.api.app, so the CLI's parser names it without importing FastAPI
