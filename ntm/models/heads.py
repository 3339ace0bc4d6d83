"""Heads: the linear map from controller output to every head's addressing parameters.

The module only owns the weights of that map (and, for ``similarity="additive"``, each head's
W, U and v of the additive score); the addressing itself is ``ntm.math.addressing`` and the
scores ``ntm.math.similarity``.
All heads of an NTM (read heads first, then write heads) come out of one linear layer, so a
step costs one matrix product however many heads there are.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ntm.math.addressing import cosine_similarity
from ntm.math.similarity import (
    additive_similarity,
    check_similarity,
    dot_similarity,
    scaled_dot_similarity,
)

__all__ = ["HeadParameters", "Heads", "check_write_gate_bias"]


class HeadParameters(NamedTuple):
    """Every head's parameters for one step (H = read heads + write heads, read heads first).

    key: [B, H, M] ``k_t``, in (-1, 1) (tanh).
    key_strength: [B, H] ``beta_t >= 0`` (softplus).
    gate: [B, H] interpolation gate ``g_t`` in (0, 1) (sigmoid).
    shift_weighting: [B, H, 2R+1] ``s_t``, a distribution over shifts -R..R (softmax).
    sharpening: [B, H] ``gamma_t >= 1`` (1 + softplus).
    erase: [B, H_write, M] ``e_t`` in (0, 1) (sigmoid), write heads only.
    add: [B, H_write, M] ``a_t`` in (-1, 1) (tanh), write heads only.
    """

    key: Tensor
    key_strength: Tensor
    gate: Tensor
    shift_weighting: Tensor
    sharpening: Tensor
    erase: Tensor
    add: Tensor


def check_write_gate_bias(bias: float | None, name: str = "write_gate_bias") -> None:
    """ValueError unless ``bias`` is None or a number from -100 to 100 (sigmoid(100) is 1 in
    float32 already; ``name`` is the setting the message names)."""
    if bias is not None and not (math.isfinite(bias) and -100 <= bias <= 100):
        raise ValueError(f"{name} is {bias}; it must be a number from -100 to 100, or null.")


class Heads(nn.Module):
    """Maps a controller output [B, C] to the ``HeadParameters`` of all heads.

    Args:
        controller_size: C.
        read_heads, write_heads: number of heads of each kind (write heads may be 0 only if
            read heads are not, and the other way round).
        memory_width: M.
        shift_radius: R, so shifts -R..R.
        clip: the linear outputs are clipped to [-clip, clip] before the activations, as
            Collier and Beel do to keep key strength and sharpening bounded early in
            training; None turns clipping off.
        similarity: the content score K of eq. 6, a name in ``ntm.math.similarity.SIMILARITIES``
            (``cosine``, the paper's, by default). ``additive`` gives every head its own
            W [M, M], U [M, M] and v [M] (hidden width A = M), drawn uniformly from
            +-1/sqrt(M) after the linear layer, so the other similarities draw the same
            initial weights from the same seed.
        write_gate_bias: the initial bias of every write head's interpolation gate before
            its sigmoid (eq. 7), or None for the linear layer's own initial bias; -3 starts
            the write heads at g_t of about 0.05, addressing by location. Set after the
            layer is drawn, without drawing anything, so every other initial weight is the
            same as without it from the same seed.
    """

    def __init__(
        self,
        controller_size: int,
        read_heads: int,
        write_heads: int,
        memory_width: int,
        shift_radius: int,
        clip: float | None = 20.0,
        similarity: str = "cosine",
        write_gate_bias: float | None = None,
    ) -> None:
        super().__init__()
        check_similarity(similarity)
        check_write_gate_bias(write_gate_bias)
        self.similarity_name = similarity
        self.read_heads, self.write_heads = read_heads, write_heads
        self.memory_width, self.shift_radius, self.clip = memory_width, shift_radius, clip
        # Per head: key (M), key strength, sharpening, gate, shift weighting (2R+1).
        self.addressing_size = memory_width + 3 + 2 * shift_radius + 1
        heads = read_heads + write_heads
        # Per write head, in addition: erase (M), add (M).
        out = heads * self.addressing_size + write_heads * 2 * memory_width
        self.linear = nn.Linear(controller_size, out)
        if write_gate_bias is not None:
            gates = [h * self.addressing_size + memory_width + 2 for h in range(read_heads, heads)]
            with torch.no_grad():
                self.linear.bias[gates] = write_gate_bias
        if similarity == "additive":
            bound = memory_width ** -0.5
            m = memory_width

            def uniform(*shape: int) -> nn.Parameter:
                return nn.Parameter(torch.empty(*shape).uniform_(-bound, bound))

            self.key_projection = uniform(heads, m, m)  # W per head: [H, A, M]
            self.memory_projection = uniform(heads, m, m)  # U per head: [H, A, M]
            self.score_vector = uniform(heads, m)  # v per head: [H, A]

    def similarity(self, memory: Tensor, key: Tensor) -> Tensor:
        """K[k, M(i)] of every head: memory [B, N, M], key [B, H, M] -> [B, H, N]."""
        if self.similarity_name == "cosine":
            return cosine_similarity(memory, key)  # eq. 6
        if self.similarity_name == "dot":
            return dot_similarity(memory, key)
        if self.similarity_name == "scaled_dot":
            return scaled_dot_similarity(memory, key)
        return additive_similarity(memory, key, self.key_projection, self.memory_projection,
                                   self.score_vector)

    def forward(self, controller_output: Tensor) -> HeadParameters:
        """controller_output: [B, C] -> HeadParameters (shapes in its docstring)."""
        b, m = controller_output.shape[0], self.memory_width
        heads = self.read_heads + self.write_heads
        raw = self.linear(controller_output)  # (B, out)
        if self.clip is not None:
            raw = raw.clamp(-self.clip, self.clip)
        split = heads * self.addressing_size
        addressing = raw[:, :split].view(b, heads, self.addressing_size)  # (B, H, P)
        positive = F.softplus(addressing[..., m : m + 2])  # (B, H, 2): beta, gamma - 1
        writing = raw[:, split:].view(b, self.write_heads, 2 * m)  # (B, H_write, 2M)
        return HeadParameters(
            key=torch.tanh(addressing[..., :m]),
            key_strength=positive[..., 0],
            sharpening=1 + positive[..., 1],
            gate=torch.sigmoid(addressing[..., m + 2]),
            shift_weighting=torch.softmax(addressing[..., m + 3 :], dim=-1),
            erase=torch.sigmoid(writing[..., :m]),
            add=torch.tanh(writing[..., m:]),
        )
