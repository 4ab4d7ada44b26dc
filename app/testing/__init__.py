"""Tiny random-weight models and adapters for tests and the offline demo; no product module imports this."""
