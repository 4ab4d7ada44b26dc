"""Qt-free core of Mondrian: reports, images, prompts, advisors, model host, strategies, store.

Nothing in this package may import PySide6: the CLI, the HTTP API, the training process and
the tests all run it headless.
"""
