"""What every method shares below it: the frozen LM's forward pieces and loss.

- `geometry.py`: what a prefix (or any per-layer key/value table) must match: layers x kv-heads x head size.
- `activations.py`: the keys/values the LM computes for tokens or embeddings.
- `lm_head.py`: the LM's output logits (blocked head, logit scale, final soft-capping).
- `label_loss.py`: the training loss on target tokens.
- `steered_lm.py`: the small protocol every method's model follows (what to train, what is stored, loss, generate).
"""
