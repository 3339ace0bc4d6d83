"""Head addressing of the Neural Turing Machine (Graves et al. 2014, section 3.3).

Pure functions, one per equation, batched over the batch and over heads. No module owns
state here: every input is passed in and the new weighting is returned.

Shapes: B batch, H heads, N memory locations, M location width, R shift radius.

Numerical guards (each is also named in the function that needs it):

- ``content_weights``: cosine similarity divides by the norms of the key and of each memory
  row; an all-zero key or row makes that 0/0, and the gradient of a plain norm at zero is
  0/0 too. The norms are taken as ``sqrt(sum x^2 + eps)``, finite with a finite gradient
  everywhere, so a zero row or key gives similarity 0.
- ``sharpen``: ``w^gamma`` underflows to 0 for every location once gamma is large (0/0),
  and ``0^gamma`` has an infinite or undefined gradient. It is computed in log space as
  ``softmax(gamma * log(max(w, tiny)))``, which equals eq. 9 wherever ``w >= tiny``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

__all__ = [
    "NORM_EPS",
    "Similarity",
    "content_weights",
    "cosine_similarity",
    "interpolate",
    "shift",
    "sharpen",
    "address",
]

#: Added to squared norms before the square root in cosine similarity (see module docstring).
NORM_EPS = 1e-8


def _safe_norm(x: Tensor) -> Tensor:
    """Euclidean norm over the last axis, ``sqrt(sum x^2 + NORM_EPS)``: finite gradient at 0."""
    return torch.sqrt(x.pow(2).sum(-1) + NORM_EPS)


def cosine_similarity(memory: Tensor, key: Tensor) -> Tensor:
    """K[k, M(i)] of eq. 6 for every head and location.

    Args:
        memory: [B, N, M].
        key: [B, H, M].

    Returns:
        [B, H, N], in [-1, 1]; 0 where the key or the row is all zero. ``NORM_EPS`` inside
        the norms keeps that case (0/0 otherwise) and its gradient finite.
    """
    dot = key @ memory.transpose(1, 2)  # (B, H, N)
    norms = _safe_norm(key).unsqueeze(-1) * _safe_norm(memory).unsqueeze(-2)  # (B, H, N)
    return dot / norms


#: A similarity measure K: (memory [B, N, M], key [B, H, M]) -> scores [B, H, N].
Similarity = Callable[[Tensor, Tensor], Tensor]


def content_weights(memory: Tensor, key: Tensor, key_strength: Tensor,
                    similarity: Similarity = cosine_similarity) -> Tensor:
    """Content addressing, eqs. 5-6: ``w^c(i) = softmax_i(beta * K[k, M(i)])``.

    Args:
        memory: [B, N, M] memory ``M_t``.
        key: [B, H, M] key vector ``k_t`` per head.
        key_strength: [B, H] key strength ``beta_t >= 0``.
        similarity: K, cosine by default (eq. 6); ``ntm.math.similarity`` has the others.

    Returns:
        [B, H, N] weighting, non-negative, summing to 1 over N. The softmax subtracts its
        maximum, so key strengths of 1e3 and more stay finite.
    """
    beta = key_strength.unsqueeze(-1)  # (B, H, 1)
    return torch.softmax(beta * similarity(memory, key), dim=-1)  # eq. 5


def interpolate(content_weights: Tensor, previous_weights: Tensor, gate: Tensor) -> Tensor:
    """Interpolation, eq. 7: ``w^g = g w^c + (1 - g) w_{t-1}``.

    Args:
        content_weights: [B, H, N] ``w^c_t``.
        previous_weights: [B, H, N] ``w_{t-1}``.
        gate: [B, H] interpolation gate ``g_t`` in [0, 1].

    Returns:
        [B, H, N] gated weighting.
    """
    g = gate.unsqueeze(-1)  # (B, H, 1)
    return g * content_weights + (1 - g) * previous_weights  # eq. 7


def shift(weights: Tensor, shift_weighting: Tensor) -> Tensor:
    """Rotation by circular convolution, eq. 8: ``w~(i) = sum_j w^g(j) s(i - j)`` (mod N).

    Entry k of ``shift_weighting`` is the weight of the shift ``k - R``: all weight on
    entry R + 1 (shift +1) moves a focus at location i to location i + 1, and location N - 1
    to location 0.

    Args:
        weights: [B, H, N] gated weighting ``w^g_t``.
        shift_weighting: [B, H, 2R+1] shift weighting ``s_t``, a distribution over shifts
            ``-R..R``; requires ``2R + 1 <= N`` so that no two shifts coincide.

    Returns:
        [B, H, N] shifted weighting.
    """
    n, width = weights.shape[-1], shift_weighting.shape[-1]
    if width % 2 != 1 or width > n:
        raise ValueError(
            f"shift_weighting has {width} entries; it needs an odd number 2R+1 no larger "
            f"than the {n} memory locations."
        )
    radius = width // 2
    # torch.roll(w, k)[i] = w(i - k): one rotation per allowed shift (2R+1 of them, not N),
    # each weighted by its entry of s. Faster than gathering an [N, 2R+1] index, whose
    # backward is a scatter.
    shifted = shift_weighting[..., 0:1] * torch.roll(weights, -radius, dims=-1)
    for k in range(1, width):
        shifted = shifted + shift_weighting[..., k : k + 1] * torch.roll(weights, k - radius, -1)
    return shifted  # eq. 8


def sharpen(weights: Tensor, gamma: Tensor) -> Tensor:
    """Sharpening, eq. 9: ``w(i) = w~(i)^gamma / sum_j w~(j)^gamma``.

    Computed as ``softmax(gamma * log(max(w~, tiny)))``, equal to eq. 9 for ``w~ >= tiny``.
    The plain form fails in two ways the log form does not: with a large gamma every
    ``w~(i)^gamma`` underflows to zero (0/0), and exact zeros in ``w~`` have an undefined
    gradient with respect to gamma (0 * log 0) and an infinite one with respect to ``w~``
    for gamma < 1. ``tiny`` is the square root of the dtype's smallest normal number
    (about 1e-19 in float32), so ``1 / w~`` in the backward pass cannot overflow; entries
    below it count as ``tiny`` and receive no gradient.

    Args:
        weights: [B, H, N] shifted weighting ``w~_t``, non-negative.
        gamma: [B, H] sharpening exponent ``gamma_t >= 1``.

    Returns:
        [B, H, N] sharpened weighting, non-negative, summing to 1 over N.
    """
    tiny = torch.finfo(weights.dtype).tiny ** 0.5
    log_w = torch.log(weights.clamp_min(tiny))
    return torch.softmax(gamma.unsqueeze(-1) * log_w, dim=-1)  # eq. 9


def address(
    memory: Tensor,
    previous_weights: Tensor,
    key: Tensor,
    key_strength: Tensor,
    gate: Tensor,
    shift_weighting: Tensor,
    gamma: Tensor,
    similarity: Similarity = cosine_similarity,
) -> Tensor:
    """The whole addressing mechanism of Figure 2: content, interpolation, shift, sharpening.

    Args:
        memory: [B, N, M] memory the heads address.
        previous_weights: [B, H, N] the heads' weightings of the previous step.
        key: [B, H, M]; key_strength: [B, H] (beta >= 0); gate: [B, H] (g in [0, 1]);
        shift_weighting: [B, H, 2R+1] (a distribution over shifts -R..R);
        gamma: [B, H] (>= 1).
        similarity: K of eq. 6 (cosine, the paper's, by default).

    Returns:
        [B, H, N] the new weighting ``w_t`` (eqs. 5-9).
    """
    w_c = content_weights(memory, key, key_strength, similarity)  # eqs. 5-6
    w_g = interpolate(w_c, previous_weights, gate)  # eq. 7
    w_shifted = shift(w_g, shift_weighting)  # eq. 8
    return sharpen(w_shifted, gamma)  # eq. 9
