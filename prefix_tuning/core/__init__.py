"""The paper's method, readable top to bottom:

- `geometry.py`: what a prefix must match (layers x kv-heads x head size of the frozen LM).
- `prefix_config.py`, `prefix_encoder.py`: where the prefix is built (P' -> MLP -> per-layer keys/values).
- `causal.py`: where it enters a decoder-only LM (pre-filled cache, mask, positions, generate).
- `seq2seq.py`: where the three prefixes enter an encoder-decoder (encoder, decoder, cross-attention).
- `word_init.py`: initialization from the activations of real words.
- `steered_lm.py`: the small protocol every method's model follows (what to train, what is stored, loss, generate).
"""
