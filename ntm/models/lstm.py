"""The paper's LSTM baseline: a deep LSTM with no external memory (``model=lstm``).

Layout (the deep LSTM of Graves 2013, which the NTM paper compares against): every layer
reads the external input and the layer below; the output layer reads every layer::

    h^1_t = LSTM_1(x_t)
    h^l_t = LSTM_l([x_t, h^(l-1)_t])          for l = 2..L
    y_t   = W [h^1_t, ..., h^L_t] + b         (logits; sigmoid outside)

Each layer is one ``torch.nn.LSTM`` over the whole sequence (a fused kernel on the CPU,
cuDNN on a GPU), starting every sequence from a zero state.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["LSTMBaseline", "from_config"]


class LSTMBaseline(nn.Module):
    """``forward(inputs [T, B, input_size]) -> logits [T, B, output_size]``.

    Args:
        input_size / output_size: widths of the external input and output.
        hidden_size: cells per layer (the paper: 256 for copy, 512 for repeat copy, 128 for
            N-grams and priority sort).
        layers: depth (the paper: 3).

    Parameter count for the paper's copy setting (input 9, output 8, 3 x 256):
    ``4*256*(9+256) + 2*4*256`` (layer 1) + ``2 * (4*256*(9+256+256) + 2*4*256)`` (layers 2-3)
    + ``768*8 + 8`` (output) = 1,350,664. The paper reports 1,352,969: 2,305 more, of which
    2,304 is what peephole weights would add (3 layers x 3 gates x 256; PyTorch's LSTM has
    none). That reading fits copy only: for the other tasks the paper's counts differ from ours
    in both directions (repeat copy 5,312,007 vs our 5,330,441; priority sort 384,424 vs
    349,192), so their input/output layouts differ from ours in ways the paper does not publish.
    """

    def __init__(self, input_size: int, output_size: int, hidden_size: int = 256,
                 layers: int = 3) -> None:
        super().__init__()
        for name, value in (("input_size", input_size), ("output_size", output_size),
                            ("hidden_size", hidden_size), ("layers", layers)):
            if value < 1:
                raise ValueError(f"{name} is {value}; it must be at least 1.")
        self.layers = nn.ModuleList(
            nn.LSTM(input_size + (hidden_size if layer else 0), hidden_size)
            for layer in range(layers)
        )
        self.output = nn.Linear(layers * hidden_size, output_size)

    def forward(self, inputs: Tensor) -> Tensor:
        """Runs whole sequences from a zero state.

        Args:
            inputs: [T, B, input_size], on the device of the model.

        Returns:
            logits [T, B, output_size].
        """
        outputs = []
        below = None
        for lstm in self.layers:
            layer_input = inputs if below is None else torch.cat([inputs, below], dim=-1)
            below, _ = lstm(layer_input)  # (T, B, hidden)
            outputs.append(below)
        return self.output(torch.cat(outputs, dim=-1))  # (T, B, out)


def from_config(cfg, input_size: int, output_size: int) -> LSTMBaseline:
    """The baseline a run's config describes: ``model.size`` cells in each of ``model.layers``
    layers (initialised from torch's global RNG)."""
    return LSTMBaseline(input_size, output_size, cfg.model.size, cfg.model.layers)
