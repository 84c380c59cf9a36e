"""Serving many prefixes of one frozen LM: the paper's modularity argument (section 1: one LM, one small
prefix per user or task) as an OpenAI-compatible HTTP server that decodes one prefix per batch row.

`base_model` loads the LM the prefix files were made for, `task_decoding` gives each prefix the decoding
`prefix_tuning.evaluate` would use, `prefix_store` watches the prefix folder, `batcher` owns the model and
decodes waiting requests together, `completions` turns a request into a batch row and back, `app` is the
FastAPI app, `startup` puts them together, and `peft_interop` converts PEFT prefix-tuning checkpoints.
"""
