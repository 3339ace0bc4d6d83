"""Similarity measures K[k, M(i)] for content addressing (eq. 6 and its alternatives).

The NTM's content addressing is attention over memory rows: a key is scored against every
row, and ``ntm.math.addressing.content_weights`` turns the scores into a weighting with
``softmax_i(beta * K[k, M(i)])`` (eq. 5). The paper scores with cosine similarity
(``ntm.math.addressing.cosine_similarity``); the attention literature uses the others here.
Pure functions, batched over the batch and over heads; the additive score's parameters are
passed in (``ntm.models.heads.Heads`` owns them).

Shapes: B batch, H heads, N memory locations, M location width, A additive hidden width.

Numerical standard (the same as cosine's; ``tests/test_similarity.py``): finite values and
gradients at zero memory, a zero key and key strengths of 1e3. None of these divides by a
norm, so none needs cosine's ``NORM_EPS``; unlike cosine they are unbounded (dot) or bounded
by ``sum |v|`` (additive), and the softmax of eq. 5 subtracts its maximum, so large scores
times a large key strength stay finite.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = [
    "SIMILARITIES",
    "check_similarity",
    "dot_similarity",
    "scaled_dot_similarity",
    "additive_similarity",
]

#: The names ``model.similarity`` allows; ``cosine`` is the paper's (eq. 6).
SIMILARITIES = ("cosine", "dot", "scaled_dot", "additive")


def check_similarity(similarity: str) -> None:
    """Raises ValueError (one sentence) unless ``similarity`` is one of ``SIMILARITIES``."""
    if similarity not in SIMILARITIES:
        raise ValueError(f"similarity is {similarity!r}; allowed values are "
                         f"{', '.join(SIMILARITIES)}.")


def dot_similarity(memory: Tensor, key: Tensor) -> Tensor:
    """Dot-product score ``K[k, M(i)] = k . M(i)`` (Luong et al. 2015).

    Args:
        memory: [B, N, M].
        key: [B, H, M].

    Returns:
        [B, H, N], unbounded; 0 where the key or the row is all zero.
    """
    return key @ memory.transpose(1, 2)  # (B, H, N)


def scaled_dot_similarity(memory: Tensor, key: Tensor) -> Tensor:
    """Scaled dot-product score ``K[k, M(i)] = k . M(i) / sqrt(M)`` (Vaswani et al. 2017).

    Args:
        memory: [B, N, M].
        key: [B, H, M].

    Returns:
        [B, H, N]: ``dot_similarity`` divided by the square root of the location width M.
    """
    return dot_similarity(memory, key) / math.sqrt(memory.shape[-1])


def additive_similarity(memory: Tensor, key: Tensor, key_projection: Tensor,
                        memory_projection: Tensor, score_vector: Tensor) -> Tensor:
    """Additive score ``K[k, M(i)] = v^T tanh(W k + U M(i))`` (Bahdanau et al. 2015), with
    its own W, U and v per head.

    Args:
        memory: [B, N, M].
        key: [B, H, M].
        key_projection: [H, A, M], W per head.
        memory_projection: [H, A, M], U per head.
        score_vector: [H, A], v per head.

    Returns:
        [B, H, N], in ``[-sum |v|, sum |v|]``.
    """
    projected_key = torch.einsum("ham,bhm->bha", key_projection, key)  # (B, H, A): W k
    projected_rows = torch.einsum("ham,bnm->bhna", memory_projection, memory)  # (B, H, N, A)
    hidden = torch.tanh(projected_key.unsqueeze(2) + projected_rows)  # (B, H, N, A)
    return torch.einsum("bhna,ha->bhn", hidden, score_vector)  # (B, H, N): v^T tanh(...)
