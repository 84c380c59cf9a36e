"""The LM head (hidden -> vocabulary logits), computed a block of the vocabulary at a time on CPU.

Each logit is one row of the head's weight times the hidden state, so blocks of `HEAD_CHUNK` weight rows give
the same dot products as one [rows x hidden] x [hidden x vocab] matmul (bitwise equal with this machine's
MKL). But a 49k x 576 weight does not stay in cache across the whole matmul, and the blocks run ~1.5x faster
here (benchmarks/train_step.py, benchmarks/decode.py). A frozen head's backward needs only the gradient
to the hidden states: one matmul, no weight gradient. A trainable head, a head with a bias or another dtype,
or another device take the plain `nn.Linear` path.
"""

import torch
from torch import nn

HEAD_CHUNK = 2048  # vocabulary rows per matmul: 4.7 MB of a 576-wide float32 weight


def _blocked_logits(hidden: torch.Tensor, weight: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    if out is None:
        out = hidden.new_empty(hidden.shape[0], weight.shape[0])
    for start in range(0, weight.shape[0], HEAD_CHUNK):
        torch.mm(hidden, weight[start : start + HEAD_CHUNK].t(), out=out[:, start : start + HEAD_CHUNK])
    return out


class _FrozenHeadLogits(torch.autograd.Function):
    @staticmethod
    def forward(ctx, hidden, weight):
        ctx.save_for_backward(weight)
        return _blocked_logits(hidden, weight)

    @staticmethod
    def backward(ctx, grad):
        (weight,) = ctx.saved_tensors
        return grad @ weight, None


def head_logits(head: nn.Module, hidden: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    """`head(hidden)` as float32 for hidden [rows, hidden_size]; `out` [rows, vocab] (optional, not under
    autograd) receives the logits."""
    weight = getattr(head, "weight", None)
    blocked = (
        isinstance(head, nn.Linear)
        and head.bias is None
        and not weight.requires_grad
        and weight.dtype == hidden.dtype == torch.float32
        and weight.device.type == "cpu"
        and hidden.dim() == 2
    )
    if not blocked:
        logits = head(hidden).float()
        return logits if out is None else out.copy_(logits)
    if torch.is_grad_enabled() and hidden.requires_grad:
        if out is not None:
            raise ValueError("head_logits: `out` is for inference only (autograd needs its own logits)")
        return _FrozenHeadLogits.apply(hidden, weight)
    return _blocked_logits(hidden, weight, out)


def lm_logits(lm, hidden: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    """The LM's own output logits for hidden [rows, hidden_size]: the head (`head_logits`), then what the model
    does to its logits after it: Cohere's `logit_scale`, Gemma 2/3's final soft-capping (tanh(x / c) x c)."""
    logits = head_logits(lm.get_output_embeddings(), hidden, out=out)
    config = lm.config.get_text_config(decoder=True)
    scale = getattr(config, "logit_scale", None)
    cap = getattr(config, "final_logit_softcapping", None)
    if scale is not None:
        logits = logits.mul_(scale) if out is not None else logits * scale
    if cap:
        logits = logits.div_(cap).tanh_().mul_(cap) if out is not None else torch.tanh(logits / cap) * cap
    return logits
