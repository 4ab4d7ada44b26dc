"""LoRA adapters: versions on disk, fit checks against the loaded model, the manager on the model thread."""
