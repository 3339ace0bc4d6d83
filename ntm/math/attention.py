"""Causal multi-head attention and positional encodings for the Transformer baseline.

Pure functions (Vaswani et al. 2017; Press et al. 2022 for ALiBi); ``ntm.models.transformer``
owns the parameters. Shapes: B batch, H heads, T steps, D width per head, W model width.

Every score below is masked causally: query step i sees key steps j <= i only, so the output
at step t depends on the inputs up to t.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "sinusoidal_positions",
    "alibi_slopes",
    "alibi_bias",
    "attention_weights",
    "causal_attention",
]


def sinusoidal_positions(steps: int, width: int, dtype: torch.dtype = torch.float32,
                         device: torch.device | None = None) -> Tensor:
    """Sinusoidal encoding (Vaswani et al. 2017, section 3.5)::

        PE(t, 2i)     = sin(t / 10000^(2i / W))
        PE(t, 2i + 1) = cos(t / 10000^(2i / W))

    Defined for any t, so a model using it runs on sequences of any length.

    Returns:
        [T, W]; an odd W has one more sine column than cosine columns.
    """
    t = torch.arange(steps, dtype=torch.float64, device=device).unsqueeze(1)  # (T, 1)
    even = torch.arange(0, width, 2, dtype=torch.float64, device=device)  # 2i
    angle = t / 10_000 ** (even / width)  # (T, ceil(W / 2))
    pe = torch.zeros(steps, width, dtype=torch.float64, device=device)
    pe[:, 0::2] = torch.sin(angle)
    pe[:, 1::2] = torch.cos(angle[:, : width // 2])
    return pe.to(dtype)


def alibi_slopes(heads: int) -> Tensor:
    """ALiBi's per-head slopes ``m_h = 2^(-8 h / H)`` for h = 1..H (Press et al. 2022,
    section 3: a geometric sequence from 2^(-8/H) to 2^(-8)). The paper interpolates
    differently when H is not a power of two; this form keeps one formula for every H.

    Returns:
        [H], float32.
    """
    h = torch.arange(1, heads + 1, dtype=torch.float64)
    return (2.0 ** (-8.0 * h / heads)).float()


def alibi_bias(steps: int, slopes: Tensor) -> Tensor:
    """The additive attention bias of ALiBi with the causal mask in it::

        bias[h, i, j] = -m_h (i - j)   for j <= i
                      = -inf           for j > i

    Args:
        steps: T.
        slopes: [H] ``m_h``.

    Returns:
        [H, T, T] on the device and dtype of ``slopes``.
    """
    i = torch.arange(steps, device=slopes.device)
    distance = (i.unsqueeze(1) - i.unsqueeze(0)).to(slopes.dtype)  # (T, T): i - j
    bias = -slopes.view(-1, 1, 1) * distance  # (H, T, T)
    return bias.masked_fill(distance < 0, -math.inf)


def attention_weights(query: Tensor, key: Tensor, bias: Tensor | None = None) -> Tensor:
    """Causal attention weights ``softmax_j(q_i . k_j / sqrt(D) + bias[i, j])``, j <= i.

    The explicit form: the reference for ``causal_attention`` and what traces record.

    Args:
        query, key: [B, H, T, D].
        bias: None (causal mask only), or [H, T, T] with -inf above the diagonal
            (``alibi_bias``).

    Returns:
        [B, H, T, T]; row i is a distribution over key steps 0..i.
    """
    steps, d = query.shape[-2], query.shape[-1]
    scores = query @ key.transpose(-2, -1) / math.sqrt(d)  # (B, H, T, T)
    if bias is None:
        future = torch.ones(steps, steps, dtype=torch.bool, device=query.device).triu(1)
        scores = scores.masked_fill(future, -math.inf)
    else:
        scores = scores + bias
    return torch.softmax(scores, dim=-1)


def causal_attention(query: Tensor, key: Tensor, value: Tensor,
                     bias: Tensor | None = None) -> Tensor:
    """``attention_weights(query, key, bias) @ value`` through torch's fused kernel
    (``scaled_dot_product_attention``): its causal flag without a bias, the bias (which
    carries the causal mask) as an additive float mask with one.

    Args:
        query, key, value: [B, H, T, D].
        bias: None, or [H, T, T] as in ``attention_weights``.

    Returns:
        [B, H, T, D].
    """
    if bias is None:
        return F.scaled_dot_product_attention(query, key, value, is_causal=True)
    return F.scaled_dot_product_attention(query, key, value, attn_mask=bias.to(query.dtype))
