"""A hand-fused addressing + read + write of one NTM step, with a hand-written backward.

A measured candidate for the fast step, not wired into training: see ``ntm.models.fast``'s
docstring for the figures. ``fused_address_read_write`` computes exactly what
``ntm.math.addressing.address``, ``ntm.math.memory.read`` and ``ntm.math.memory.write`` compute
(eqs. 2-9) as one ``torch.autograd.Function``: the forward records one autograd node instead
of about forty, and the backward is the chain rule written out (``tests/test_fused.py``
gradchecks it in float64 against those pure functions). One write head at most; more fall
back to them.

The circular shift (eq. 8) is one matrix product: the weighting padded circularly by R on
both sides and unfolded into windows of 2R + 1, times the flipped shift weighting.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ntm.math.addressing import NORM_EPS, address
from ntm.math.memory import read, write

__all__ = ["fused_address_read_write"]


def _windows(w: Tensor, radius: int) -> Tensor:
    """[B, H, N] -> [B, H, N, 2R+1]: entry (i, j) is w((i + j - R) mod N)."""
    padded = torch.cat([w[..., w.shape[-1] - radius:], w, w[..., :radius]], dim=-1)
    return padded.unfold(-1, 2 * radius + 1, 1)


class _AddressReadWrite(torch.autograd.Function):
    @staticmethod
    def forward(ctx, memory, previous, key, beta, gate, shifts, gamma, erase, add, read_heads):
        radius = shifts.shape[-1] // 2
        key_norm = torch.sqrt((key * key).sum(-1) + NORM_EPS)  # (B, H)
        row_norm = torch.sqrt((memory * memory).sum(-1) + NORM_EPS)  # (B, N)
        denominator = key_norm.unsqueeze(-1) * row_norm.unsqueeze(-2)  # (B, H, N)
        cosine = (key @ memory.transpose(1, 2)) / denominator
        content = torch.softmax(beta.unsqueeze(-1) * cosine, dim=-1)  # eqs. 5-6
        g = gate.unsqueeze(-1)
        gated = previous + g * (content - previous)  # eq. 7
        windows = _windows(gated, radius)  # (B, H, N, S)
        shifted = (windows @ shifts.flip(-1).unsqueeze(-1)).squeeze(-1)  # eq. 8
        tiny = torch.finfo(shifted.dtype).tiny ** 0.5
        log_w = torch.log(shifted.clamp_min(tiny))
        weights = torch.softmax(gamma.unsqueeze(-1) * log_w, dim=-1)  # eq. 9
        reads = weights[:, :read_heads] @ memory  # eq. 2
        if erase.shape[1]:
            w_write = weights[:, read_heads:].transpose(1, 2)  # (B, N, 1)
            new_memory = memory + w_write * (add - erase * memory)  # eqs. 3-4
        else:
            new_memory = memory
        ctx.read_heads, ctx.radius, ctx.tiny = read_heads, radius, tiny
        ctx.save_for_backward(memory, previous, key, beta, gate, shifts, gamma, erase, add,
                              key_norm, row_norm, denominator, cosine, content, gated, windows,
                              shifted, log_w, weights)
        return weights, reads, new_memory

    @staticmethod
    def backward(ctx, d_weights, d_reads, d_memory):
        (memory, previous, key, beta, gate, shifts, gamma, erase, add, key_norm, row_norm,
         denominator, cosine, content, gated, windows, shifted, log_w,
         weights) = ctx.saved_tensors
        hr, radius = ctx.read_heads, ctx.radius
        d_w = torch.zeros_like(weights) if d_weights is None else d_weights.clone()
        d_mem = torch.zeros_like(memory) if d_memory is None else d_memory
        d_erase = d_add = None
        if erase.shape[1] and d_memory is not None:
            w_write = weights[:, hr:]  # (B, 1, N)
            d_w[:, hr:] += (d_memory * (add - erase * memory)).sum(-1).unsqueeze(1)
            d_add = w_write @ d_memory  # (B, 1, M)
            d_erase = -(w_write @ (d_memory * memory))
            d_mem = d_memory * (1 - w_write.transpose(1, 2) * erase)
        if d_reads is not None and hr:
            d_w[:, :hr] += d_reads @ memory.transpose(1, 2)
            d_mem = d_mem + weights[:, :hr].transpose(1, 2) @ d_reads
        # eq. 9: softmax of gamma * log w~
        d_z = weights * (d_w - (d_w * weights).sum(-1, keepdim=True))
        d_gamma = (d_z * log_w).sum(-1)
        d_shifted = torch.where(shifted >= ctx.tiny, d_z * gamma.unsqueeze(-1) / shifted, 0.0)
        # eq. 8
        d_shifts = (d_shifted.unsqueeze(-2) @ windows).squeeze(-2).flip(-1)
        d_gated = (_windows(d_shifted, radius) @ shifts.unsqueeze(-1)).squeeze(-1)
        # eq. 7
        g = gate.unsqueeze(-1)
        d_content = g * d_gated
        d_previous = d_gated - d_content
        d_gate = (d_gated * (content - previous)).sum(-1)
        # eqs. 5-6
        d_zc = content * (d_content - (d_content * content).sum(-1, keepdim=True))
        d_beta = (d_zc * cosine).sum(-1)
        d_cos = d_zc * beta.unsqueeze(-1)
        d_dot = d_cos / denominator
        d_cos_cos = d_cos * cosine
        d_key_norm = -d_cos_cos.sum(-1) / key_norm  # (B, H)
        d_row_norm = -d_cos_cos.sum(-2) / row_norm  # (B, N)
        d_key = d_dot @ memory + (d_key_norm / key_norm).unsqueeze(-1) * key
        d_mem = (d_mem + d_dot.transpose(1, 2) @ key
                 + (d_row_norm / row_norm).unsqueeze(-1) * memory)
        return (d_mem, d_previous, d_key, d_beta, d_gate, d_shifts, d_gamma, d_erase, d_add,
                None)


def fused_address_read_write(
    memory: Tensor, previous: Tensor, key: Tensor, key_strength: Tensor, gate: Tensor,
    shift_weighting: Tensor, gamma: Tensor, erase: Tensor, add: Tensor, read_heads: int,
) -> tuple[Tensor, Tensor, Tensor]:
    """(weights [B, H, N], reads [B, Hr, M], new memory [B, N, M]) of one step: the same as
    ``address`` then ``read`` of the read heads' weights and ``write`` of the write heads'."""
    if erase.shape[1] > 1:
        weights = address(memory, previous, key, key_strength, gate, shift_weighting, gamma)
        return (weights, read(memory, weights[:, :read_heads]),
                write(memory, weights[:, read_heads:], erase, add))
    return _AddressReadWrite.apply(memory, previous, key, key_strength, gate, shift_weighting,
                                   gamma, erase, add, read_heads)
