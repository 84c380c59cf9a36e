"""The one shared trainer (`trainer.py`), its settings, checkpoints, batching and the target-token loss."""
