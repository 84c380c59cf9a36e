"""Decoding with any method's model: the paper's beam search settings, batched."""
