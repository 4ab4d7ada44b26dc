"""Training a personal advisor: portfolio -> dataset -> LoRA adapter -> evaluation -> versions.

Each step is a command that runs in its own process (the GUI drives them with QProcess, so a crash
or an out-of-memory in training never takes the app down):

* ``mondrian train prepare`` builds the dataset from a folder of photos,
* ``mondrian train lora`` trains a LoRA adapter with mlx-vlm's trainer and publishes it
  as a new adapter version (JSON-lines progress on stdout, see ``training/PROGRESS.md``),
* ``mondrian train evaluate`` compares the base model and the adapter on the held-out photos,
* ``mondrian train versions`` lists, activates, rolls back, deletes and fuses versions.

``python -m training <command> ...`` dispatches to the same modules. This package may import
``app.engine`` but never ``app.ui`` or Qt.
"""
