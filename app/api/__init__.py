"""The local HTTP API, a front end beside the CLI and the window (the engine never imports it)."""
