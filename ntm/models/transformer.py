"""A causal decoder-only Transformer baseline (``model=transformer``), pre-LayerNorm.

Over the same input and target sequences as the NTM and the LSTM baseline: the input at
step t is embedded, every layer attends causally (step t sees steps 0..t), and the output
layer gives logits at every step::

    x^0_t = E x_t + p_t                                  (p_t: positions, if added)
    a^l   = x^(l-1) + O^l Attention(LN(x^(l-1)))         (causal, H heads; ntm.math.attention)
    x^l   = a^l + W2^l GELU(W1^l LN(a^l) + b1^l) + b2^l
    y_t   = W LN(x^L_t) + b                              (logits; sigmoid outside)

Positional encodings (``positions``), since length generalisation depends on them:

- ``sinusoidal``: fixed sines and cosines added to the embedding; defined for any length.
- ``learned``: one trained vector per step, for the ``max_steps`` steps of the training
  task's longest sequence; a longer sequence is refused (``SequenceTooLong``), because no
  trained vector exists for its later steps.
- ``alibi``: nothing added; each head's attention score is biased by ``-m_h (i - j)``
  (Press et al. 2022); defined for any length.
- ``none``: nothing added and no bias: the causal mask alone (a causal stack can still infer
  position from it).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ntm.math.attention import (
    alibi_bias,
    alibi_slopes,
    attention_weights,
    causal_attention,
    sinusoidal_positions,
)

__all__ = ["POSITIONS", "SETTINGS", "SequenceTooLong", "AttentionTrace", "TransformerBaseline",
           "check_arguments", "check_config", "from_config", "parameter_count"]

#: The positional encodings ``model.positions`` allows.
POSITIONS = ("sinusoidal", "learned", "alibi", "none")


class SequenceTooLong(ValueError):
    """A sequence longer than learned positions cover (one sentence)."""


class AttentionTrace(NamedTuple):
    """Every layer's attention weights for one run, detached.

    attention: [L, B, H, T, T]; ``attention[l, b, h, i]`` is head h of layer l's distribution
    over the steps 0..i that step i reads.
    """

    attention: Tensor


class Block(nn.Module):
    """One pre-LayerNorm layer: causal multi-head self-attention, then the feed-forward net,
    each added to its input."""

    def __init__(self, width: int, heads: int, ffn_size: int) -> None:
        super().__init__()
        self.heads = heads
        self.attention_norm = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)  # queries, keys and values of every head
        self.attention_output = nn.Linear(width, width)
        self.ffn_norm = nn.LayerNorm(width)
        self.ffn_in = nn.Linear(width, ffn_size)
        self.ffn_out = nn.Linear(ffn_size, width)

    def forward(self, x: Tensor, bias: Tensor | None,
                trace: bool = False) -> tuple[Tensor, Tensor | None]:
        """x: [B, T, W]; bias: None or [H, T, T] -> ([B, T, W], weights [B, H, T, T] or None)."""
        b, t, w = x.shape
        qkv = self.qkv(self.attention_norm(x)).view(b, t, 3, self.heads, w // self.heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)  # each (B, H, T, D)
        weights = None
        if trace:
            weights = attention_weights(q, k, bias)  # (B, H, T, T)
            attended = weights @ v
        else:
            attended = causal_attention(q, k, v, bias)  # (B, H, T, D)
        x = x + self.attention_output(attended.transpose(1, 2).reshape(b, t, w))  # (B, T, W)
        x = x + self.ffn_out(F.gelu(self.ffn_in(self.ffn_norm(x))))
        return x, weights


class TransformerBaseline(nn.Module):
    """``forward(inputs [T, B, input_size]) -> logits [T, B, output_size]``; with
    ``trace=True`` it returns ``(logits, AttentionTrace)``.

    Args:
        input_size / output_size: widths of the external input and output.
        width: W, the model width (``model.size``); a multiple of ``heads``.
        layers: L (``model.layers``).
        heads: H, attention heads per layer (``model.heads``).
        ffn_size: F, the feed-forward net's hidden width (``model.ffn_size``).
        positions: a name in ``POSITIONS`` (``model.positions``).
        max_steps: the longest sequence the model must handle; ``learned`` needs it.

    Parameter count (``parameter_count``; ``tests/test_transformer.py`` checks it):
    ``(I + 1) W`` (embedding) + ``T_max W`` (learned positions only)
    + ``L (4 W^2 + 2 W F + 9 W + F)`` (per layer: qkv ``3W^2 + 3W``, output ``W^2 + W``,
    feed-forward ``2 W F + F + W``, two LayerNorms ``4W``) + ``2W`` (final LayerNorm)
    + ``(W + 1) O`` (output). The default size (W 128, L 3, H 4, F 512) on copy (I 9, O 8):
    1,280 + 3 x 198,272 + 256 + 1,032 = 597,384, with learned positions 41 x 128 more.
    """

    def __init__(self, input_size: int, output_size: int, width: int = 128, layers: int = 3,
                 heads: int = 4, ffn_size: int = 512, positions: str = "sinusoidal",
                 max_steps: int | None = None) -> None:
        super().__init__()
        check_arguments(input_size, output_size, width, layers, heads, ffn_size, positions,
                        max_steps)
        self.positions, self.max_steps, self.heads = positions, max_steps, heads
        self.embedding = nn.Linear(input_size, width)
        if positions == "learned":
            self.position_embedding = nn.Parameter(torch.randn(max_steps, width) * 0.02)
        if positions == "alibi":
            self.register_buffer("slopes", alibi_slopes(heads), persistent=False)
        self.blocks = nn.ModuleList(Block(width, heads, ffn_size) for _ in range(layers))
        self.final_norm = nn.LayerNorm(width)
        self.output = nn.Linear(width, output_size)

    def forward(self, inputs: Tensor, trace: bool = False,
                generator: torch.Generator | None = None) -> Tensor | tuple[Tensor, AttentionTrace]:
        """Runs whole sequences.

        Args:
            inputs: [T, B, input_size], on the device of the model.
            trace: also return an ``AttentionTrace``.
            generator: unused (the signature of ``NTM.forward``, so ``episode`` runs both).

        Returns:
            logits [T, B, output_size], and the trace when asked.
        """
        steps = inputs.shape[0]
        x = self.embedding(inputs.transpose(0, 1))  # (B, T, W)
        if self.positions == "sinusoidal":
            x = x + sinusoidal_positions(steps, x.shape[-1], x.dtype, x.device)
        elif self.positions == "learned":
            if steps > self.max_steps:
                raise SequenceTooLong(
                    f"the sequence has {steps} steps but model.positions=learned has positions "
                    f"for {self.max_steps} (the training task's longest); train with "
                    "sinusoidal, alibi or none positions to run longer sequences.")
            x = x + self.position_embedding[:steps]
        bias = alibi_bias(steps, self.slopes) if self.positions == "alibi" else None
        weights = []
        for block in self.blocks:
            x, w = block(x, bias, trace)
            weights.append(w)
        logits = self.output(self.final_norm(x)).transpose(0, 1)  # (T, B, out)
        if not trace:
            return logits
        return logits, AttentionTrace(torch.stack(weights).detach())  # (L, B, H, T, T)


def check_arguments(input_size: int, output_size: int, width: int, layers: int, heads: int,
                    ffn_size: int, positions: str, max_steps: int | None) -> None:
    """``TransformerBaseline``'s rules on its arguments; ValueError in one sentence."""
    for name, value in (("input_size", input_size), ("output_size", output_size),
                        ("width", width), ("layers", layers), ("heads", heads),
                        ("ffn_size", ffn_size)):
        if value < 1:
            raise ValueError(f"{name} is {value}; it must be at least 1.")
    if width % heads:
        raise ValueError(f"width is {width}; it must be a multiple of heads ({heads}).")
    if positions not in POSITIONS:
        raise ValueError(f"positions is {positions!r}; allowed values are "
                         f"{', '.join(POSITIONS)}.")
    if positions == "learned" and (max_steps is None or max_steps < 1):
        raise ValueError(f"max_steps is {max_steps}; learned positions need the longest "
                         "sequence length, at least 1.")


#: The constructor's argument behind each config setting; ``check_config``'s errors name
#: the settings.
SETTINGS = {
    "width": "model.size",
    "layers": "model.layers",
    "heads": "model.heads",
    "ffn_size": "model.ffn_size",
    "positions": "model.positions",
}


def _arguments(cfg) -> dict:
    return {name: cfg.model[key.split(".")[1]] for name, key in SETTINGS.items()}


def check_config(cfg) -> None:
    """The constructor's rules on a run's config, without building the model (ValueError)."""
    check_arguments(1, 1, **_arguments(cfg), max_steps=1)


def from_config(cfg, input_size: int, output_size: int,
                max_steps: int | None = None) -> TransformerBaseline:
    """The Transformer a run's config describes (``model.size``, ``model.layers``,
    ``model.heads``, ``model.ffn_size``, ``model.positions``), for sequences of at most
    ``max_steps`` (the task's longest; learned positions are sized by it), initialised from
    torch's global RNG."""
    return TransformerBaseline(input_size, output_size, **_arguments(cfg), max_steps=max_steps)


def parameter_count(model: nn.Module) -> int:
    """Number of trained parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
