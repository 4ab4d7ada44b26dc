"""CLI commands, one module each, each with ``register(subparsers)``."""
