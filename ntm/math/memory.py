"""The memory matrix: reading (eq. 2), writing (eqs. 3-4) and its initial value.

Pure functions over batched tensors. Shapes: B batch, H heads, N locations, M width.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

__all__ = [
    "MEMORY_INITS",
    "INITIAL_WEIGHTINGS",
    "check_initial_weighting",
    "CONSTANT_INIT_VALUE",
    "MemoryState",
    "read",
    "write",
    "initial_memory",
    "check_memory_init",
]

#: The memory initialisations ``initial_memory`` knows.
MEMORY_INITS = ("constant", "learned", "random")

#: The heads' weightings ``w_0`` before the first step: ``onehot`` (every head focused on
#: location 0, fixed) or ``learned`` (a softmax of trained logits per head, started from
#: Gaussian noise so that no two locations look alike).
INITIAL_WEIGHTINGS = ("onehot", "learned")

#: Value of every cell under the ``constant`` initialisation; Collier and Beel found a small
#: constant converges fastest on copy.
CONSTANT_INIT_VALUE = 1e-6


class MemoryState(NamedTuple):
    """What the heads leave behind at the end of a step, passed into the next one.

    memory: [B, N, M] ``M_t``.
    weights: [B, H, N] every head's ``w_t``, read heads first, then write heads (one tensor,
        because all heads are addressed in one batched call).
    reads: [B, H_read, M] the read vectors ``r_t``.
    """

    memory: Tensor
    weights: Tensor
    reads: Tensor


def read(memory: Tensor, weights: Tensor) -> Tensor:
    """Reading, eq. 2: ``r_t = sum_i w_t(i) M_t(i)``, a convex combination of rows.

    Args:
        memory: [B, N, M].
        weights: [B, H, N], one weighting per read head.

    Returns:
        [B, H, M] read vectors.
    """
    return weights @ memory  # eq. 2


def write(memory: Tensor, weights: Tensor, erase: Tensor, add: Tensor) -> Tensor:
    """Writing: every head's erase (eq. 3), then every head's add (eq. 4).

    ``M~(i) = M(i) * prod_h (1 - w_h(i) e_h)`` and ``M_t(i) = M~(i) + sum_h w_h(i) a_h``.
    Erases are multiplicative and adds additive, so neither depends on the order of heads.

    Args:
        memory: [B, N, M] ``M_{t-1}``.
        weights: [B, H, N] the write heads' weightings.
        erase: [B, H, M] erase vectors, in [0, 1].
        add: [B, H, M] add vectors.

    Returns:
        [B, N, M] ``M_t``.
    """
    if weights.shape[1] == 1:
        # One head, the common case, in the cheapest form of the same sum:
        # M(i) (1 - w(i) e) + w(i) a = M(i) + w(i) (a - e M(i)).
        return memory + weights.transpose(1, 2) * (add - erase * memory)  # eqs. 3-4
    retained = (1 - weights.unsqueeze(-1) * erase.unsqueeze(-2)).prod(dim=1)  # eq. 3, (B, N, M)
    return memory * retained + weights.transpose(1, 2) @ add  # eq. 4, (B, N, M)


def check_memory_init(init: str) -> None:
    """The one rule for ``init``: a name in ``MEMORY_INITS``; a ValueError names them."""
    if init not in MEMORY_INITS:
        raise ValueError(f"memory.init is {init!r}; allowed values are {', '.join(MEMORY_INITS)}.")


def check_initial_weighting(initial_weighting: str) -> None:
    """The one rule for the heads' ``w_0``: a name in ``INITIAL_WEIGHTINGS``."""
    if initial_weighting not in INITIAL_WEIGHTINGS:
        raise ValueError(f"memory.initial_weighting is {initial_weighting!r}; allowed values are "
                         f"{', '.join(INITIAL_WEIGHTINGS)}.")


def initial_memory(
    init: str, bias: Tensor, batch_size: int, generator: torch.Generator | None = None
) -> Tensor:
    """The memory ``M_0`` at the start of a sequence, for each of ``batch_size`` sequences.

    Args:
        init: ``constant`` (``bias`` is a buffer holding ``CONSTANT_INIT_VALUE`` in every
            cell), ``learned`` (``bias`` is a trained parameter, the paper's learned bias),
            or ``random`` (fresh Gaussian noise per sequence with standard deviation
            ``1/sqrt(M)``, so a row has norm about 1; ``bias`` only gives shape, dtype
            and device).
        bias: [N, M].
        batch_size: B.
        generator: random source for ``random``; the default torch generator if None.

    Returns:
        [B, N, M].
    """
    check_memory_init(init)
    if init in ("constant", "learned"):
        return bias.unsqueeze(0).expand(batch_size, *bias.shape)
    n, m = bias.shape  # init == "random"
    noise = torch.randn(batch_size, n, m, generator=generator, device=bias.device, dtype=bias.dtype)
    return noise / m**0.5
