"""Controllers: the network that reads the input and the previous reads and drives the heads.

A controller is called one step at a time with an explicit state and returns the new one:
``output, state = controller(x, state)``. Its initial state is a learned bias, reset at the
start of every sequence as in the paper.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["CONTROLLERS", "LSTMController", "FeedforwardController", "check_controller_kind",
           "make_controller"]

#: A controller's state: for the LSTM (h_1, c_1, ..., h_L, c_L), each [B, size]; empty for
#: the feedforward controller.
ControllerState = tuple[Tensor, ...]


class LSTMController(nn.Module):
    """A stack of ``layers`` LSTM cells; the output is the top layer's hidden state [B, size].

    The initial hidden and cell states of every layer are learned bias vectors. With
    ``layer_norm`` each layer's hidden state is layer-normalised (with a learned gain and bias)
    where it leaves the layer, upwards and out; the recurrence keeps the cell's own h.
    """

    def __init__(self, input_size: int, size: int, layers: int = 1,
                 layer_norm: bool = False) -> None:
        super().__init__()
        self.size = size
        self.cells = nn.ModuleList(
            nn.LSTMCell(input_size if i == 0 else size, size) for i in range(layers)
        )
        self.norms = nn.ModuleList(
            nn.LayerNorm(size) if layer_norm else nn.Identity() for _ in range(layers)
        )
        self.initial = nn.Parameter(torch.zeros(2 * layers, size))  # (h, c) per layer

    def initial_state(self, batch_size: int) -> ControllerState:
        return tuple(bias.expand(batch_size, -1) for bias in self.initial)

    def forward(self, x: Tensor, state: ControllerState) -> tuple[Tensor, ControllerState]:
        """x: [B, input_size] -> output [B, size] and the new state."""
        new_state = []
        for i, (cell, norm) in enumerate(zip(self.cells, self.norms, strict=True)):
            h, c = cell(x, (state[2 * i], state[2 * i + 1]))
            new_state += [h, c]
            x = norm(h)
        return x, tuple(new_state)


class FeedforwardController(nn.Module):
    """``layers`` fully connected tanh layers; no state, so memory is its only recurrence.
    With ``layer_norm`` each layer's pre-activation is layer-normalised (learned gain and
    bias) before its tanh (Ba, Kiros and Hinton, 2016)."""

    def __init__(self, input_size: int, size: int, layers: int = 1,
                 layer_norm: bool = False) -> None:
        super().__init__()
        self.size = size
        dims = [input_size] + [size] * layers
        self.layers = nn.Sequential(*(
            m for a, b in zip(dims, dims[1:], strict=False)
            for m in ((nn.Linear(a, b), nn.LayerNorm(b), nn.Tanh()) if layer_norm
                      else (nn.Linear(a, b), nn.Tanh()))  # the keys of checkpoints without it
        ))

    def initial_state(self, batch_size: int) -> ControllerState:
        return ()

    def forward(self, x: Tensor, state: ControllerState) -> tuple[Tensor, ControllerState]:
        """x: [B, input_size] -> output [B, size]; the state stays empty."""
        return self.layers(x), state


#: Controller kinds by the name used in configs (``controller.kind``).
CONTROLLERS: dict[str, type[nn.Module]] = {
    "lstm": LSTMController,
    "feedforward": FeedforwardController,
}


def check_controller_kind(kind: str) -> None:
    """The one rule for ``kind``: a name in ``CONTROLLERS``; a ValueError names them."""
    if kind not in CONTROLLERS:
        raise ValueError(
            f"controller.kind is {kind!r}; allowed values are {', '.join(CONTROLLERS)}."
        )


def make_controller(kind: str, input_size: int, size: int, layers: int,
                    layer_norm: bool = False) -> nn.Module:
    """The controller registered under ``kind``; a ValueError names the allowed kinds."""
    check_controller_kind(kind)
    return CONTROLLERS[kind](input_size, size, layers, layer_norm)
