"""Prefix-tuning (paper section 4) in one folder, the way PEFT keeps a tuner, readable top to bottom:

- `config.py`: the method's options (L, the MLP, init, dropout), each with its source in the paper.
- `encoder.py`: where the prefix is built (P' -> MLP -> per-layer keys/values), and a loaded fixed P.
- `causal.py`: where it enters a decoder-only LM (a pre-filled cache, the mask, positions L.., generate);
  which families take it through our fused paths is `lm/families.py`.
- `packing.py`: the packed training attention (examples end to end, the prefix columns shared).
- `seq2seq.py`, `seq2seq_layouts.py`: where the three prefixes enter an encoder-decoder, and in which modules.
- `word_init.py`: initialization from the activations of real words.
- `file_format.py`: the prefix file (only P) and its checks.
- `method.py`: the method as the trainer sees it: build (with its init), save, load.
The beam engine's attention over a prefix is `generation/beam_tree_attention.py`.
"""
