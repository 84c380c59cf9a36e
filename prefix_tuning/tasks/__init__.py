"""The paper's tasks, each a folder with its loader (`data.py`) beside its official scoring (`scoring.py`):
e2e, webnlg, dart, xsum. `registry.py` lists them explicitly and reads a task config; `records.py` has
the two record types loaders return; `encoding.py` turns them into token ids."""
