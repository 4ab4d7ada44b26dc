"""Qt-free core of Mondrian: photos, critiques, the model host and adapters, modes, RAG, the store.

Nothing in this package may import PySide6: the CLI, the HTTP API, the training process and
the tests all run it headless.
"""
