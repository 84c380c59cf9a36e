"""The frozen base LM: loading (`loading.py`), the embedded SmolLM2 (`embedded.py`), tiny test models (`tiny.py`), its layers (`layers.py`)."""
