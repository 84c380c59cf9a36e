"""Finding and wrapping the layers of a base LM: transformer blocks, their attention and MLP, and
gradient checkpointing of the frozen layers."""

import functools

import torch
import torch.utils.checkpoint
from torch import nn
from transformers.modeling_layers import GradientCheckpointingLayer

from prefix_tuning.errors import UserError


def checkpoint_frozen_layers(model):
    """Recompute each transformer layer's activations in backward instead of keeping them.

    Hugging Face's own switch checkpoints only in training mode and drops the cache; the frozen LM
    stays in eval mode (dropout off) and the prefix travels in read-only caches, so each layer
    (every `GradientCheckpointingLayer`) is wrapped here instead.
    """
    for layer in model.modules():
        if isinstance(layer, GradientCheckpointingLayer):
            layer.forward = functools.partial(_checkpointed, layer.forward)


def _checkpointed(forward, *args, **kwargs):
    if not torch.is_grad_enabled():
        return forward(*args, **kwargs)
    return torch.utils.checkpoint.checkpoint(forward, *args, use_reentrant=False, **kwargs)


def decoder_layers(lm) -> nn.ModuleList:
    """The transformer blocks of a decoder-only LM (GPT-2 `h`, Llama-style `layers`)."""
    body = lm.base_model
    for name in ("layers", "h"):
        if isinstance(getattr(body, name, None), nn.ModuleList):
            return getattr(body, name)
    raise UserError(
        f"{type(lm).__name__}: cannot find its transformer layers (supported: GPT-2 and Llama-style decoders)"
    )


def attention_and_mlp(layer: nn.Module) -> tuple[nn.Module, nn.Module]:
    """A block's self-attention and MLP sub-modules, each of whose output is added to the residual stream."""
    attention = next((getattr(layer, n) for n in ("self_attn", "attn") if hasattr(layer, n)), None)
    mlp = getattr(layer, "mlp", None)
    if attention is None or mlp is None:
        raise UserError(
            f"{type(layer).__name__}: cannot find its attention and MLP (supported: GPT-2 and Llama-style decoders)"
        )
    return attention, mlp


def final_norm(lm) -> nn.Module:
    """The layer norm after the last block of a decoder-only LM (GPT-2 `ln_f`, Llama-style `norm`)."""
    body = lm.base_model
    for name in ("norm", "ln_f"):
        if isinstance(getattr(body, name, None), nn.Module):
            return getattr(body, name)
    raise UserError(
        f"{type(lm).__name__}: cannot find its final layer norm (supported: GPT-2 and Llama-style decoders)"
    )
