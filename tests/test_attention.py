"""Tests of ntm/math/attention.py: positional encodings, ALiBi, causal attention (the fused
kernel against the explicit form and a slow loop)."""

from __future__ import annotations

import math

import pytest
import torch
from conftest import assert_distribution

from ntm.math.attention import (
    alibi_bias,
    alibi_slopes,
    attention_weights,
    causal_attention,
    sinusoidal_positions,
)

F64 = torch.float64


def test_sinusoidal_positions_by_hand():
    pe = sinusoidal_positions(3, 4, F64)
    # W = 4: columns sin(t), cos(t), sin(t / 100), cos(t / 100).
    expected = torch.tensor([[math.sin(t), math.cos(t), math.sin(t / 100), math.cos(t / 100)]
                             for t in range(3)], dtype=F64)
    torch.testing.assert_close(pe, expected, rtol=0, atol=1e-12)
    odd = sinusoidal_positions(5, 5, F64)  # W = 5: three sine columns, two cosine columns
    assert odd.shape == (5, 5)
    torch.testing.assert_close(odd[:, 4], torch.tensor([math.sin(t / 10_000 ** 0.8)
                                                        for t in range(5)], dtype=F64))


def test_alibi_slopes_and_bias_by_hand():
    torch.testing.assert_close(alibi_slopes(4), torch.tensor([2**-2, 2**-4, 2**-6, 2**-8]))
    bias = alibi_bias(3, torch.tensor([0.5, 0.25]))
    inf = -math.inf
    expected = torch.tensor([[[0.0, inf, inf], [-0.5, 0.0, inf], [-1.0, -0.5, 0.0]],
                             [[0.0, inf, inf], [-0.25, 0.0, inf], [-0.5, -0.25, 0.0]]])
    assert torch.equal(bias, expected)


def loop_attention(q, k, v, bias):
    """Row by row: softmax over steps 0..i of q_i . k_j / sqrt(D) + bias[h, i, j]."""
    b, h, t, d = q.shape
    out = torch.zeros_like(q)
    for bi in range(b):
        for hi in range(h):
            for i in range(t):
                scores = [float(q[bi, hi, i] @ k[bi, hi, j]) / math.sqrt(d)
                          + (0.0 if bias is None else float(bias[hi, i, j]))
                          for j in range(i + 1)]
                top = max(scores)
                e = [math.exp(s - top) for s in scores]
                for j in range(i + 1):
                    out[bi, hi, i] += e[j] / sum(e) * v[bi, hi, j]
    return out


@pytest.mark.parametrize("alibi", [False, True])
def test_causal_attention_matches_the_explicit_form_and_a_loop(alibi):
    gen = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 3, 6, 4, generator=gen, dtype=F64) for _ in range(3))
    bias = alibi_bias(6, alibi_slopes(3).to(F64)) if alibi else None
    weights = attention_weights(q, k, bias)
    assert_distribution(weights)
    assert (weights.triu(1) == 0).all()  # no step reads a later one
    reference = loop_attention(q, k, v, bias)
    torch.testing.assert_close(weights @ v, reference, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(causal_attention(q, k, v, bias), reference, rtol=1e-6,
                               atol=1e-6)


def test_attention_gradcheck():
    gen = torch.Generator().manual_seed(1)
    q, k, v = (torch.randn(1, 2, 4, 3, generator=gen, dtype=F64, requires_grad=True)
               for _ in range(3))
    bias = alibi_bias(4, alibi_slopes(2).to(F64))
    assert torch.autograd.gradcheck(lambda a, b, c: attention_weights(a, b, bias) @ c, (q, k, v))
    assert torch.autograd.gradcheck(lambda a, b: attention_weights(a, b), (q, k))
