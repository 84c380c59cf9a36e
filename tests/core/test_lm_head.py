"""The blocked LM head equals `nn.Linear` (forward and the hidden states' gradient), and steps aside where it must."""

import pytest
import torch

from prefix_tuning.core.lm_head import HEAD_CHUNK, head_logits


def _head(vocab: int, hidden: int = 24, bias: bool = False) -> torch.nn.Linear:
    torch.manual_seed(0)
    head = torch.nn.Linear(hidden, vocab, bias=bias)
    head.weight.requires_grad_(False)
    return head


@pytest.mark.parametrize("vocab", [HEAD_CHUNK - 3, 2 * HEAD_CHUNK + 17])  # one partial block; several + a tail
def test_blocked_head_equals_linear_forward_and_backward(vocab):
    head = _head(vocab)
    hidden = torch.randn(7, 24, requires_grad=True)
    reference_hidden = hidden.detach().clone().requires_grad_(True)
    upstream = torch.randn(7, vocab)

    logits = head_logits(head, hidden)
    reference = torch.nn.functional.linear(reference_hidden, head.weight)
    assert torch.allclose(logits, reference, atol=1e-5, rtol=1e-5)
    (logits * upstream).sum().backward()
    (reference * upstream).sum().backward()
    assert torch.allclose(hidden.grad, reference_hidden.grad, atol=1e-4, rtol=1e-5)


def test_blocked_head_writes_into_out_without_autograd():
    head = _head(HEAD_CHUNK + 5)
    hidden = torch.randn(3, 24)
    out = torch.full((3, HEAD_CHUNK + 5), float("nan"))
    result = head_logits(head, hidden, out=out)
    assert result.data_ptr() == out.data_ptr()
    assert torch.allclose(out, hidden @ head.weight.t(), atol=1e-5)


def test_trainable_or_biased_heads_take_the_linear_path():
    head = _head(50)
    head.weight.requires_grad_(True)
    hidden = torch.randn(2, 24)
    head_logits(head, hidden).sum().backward()
    assert head.weight.grad is not None  # the blocked path would give the weight no gradient
    biased = _head(50, bias=True)
    assert torch.allclose(head_logits(biased, hidden), biased(hidden))


def test_out_under_autograd_is_refused():
    head = _head(50)
    with pytest.raises(ValueError, match="inference only"):
        head_logits(head, torch.randn(2, 24, requires_grad=True), out=torch.empty(2, 50))
