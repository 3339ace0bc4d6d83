"""The Neural Turing Machine: one step, the whole sequence, and a trace for pictures.

Data flow of one step t (Figure 1 of the paper):

    controller input  = [x_t, r_{t-1}]                      (external input, previous reads)
    h_t               = controller(controller input)
    head parameters   = heads(h_t)                          (ntm.models.heads)
    w_t               = address(M_{t-1}, w_{t-1}, ...)      (ntm.math.addressing, eqs. 5-9)
    r_t               = read(M_{t-1}, w_t^read)             (eq. 2)
    M_t               = write(M_{t-1}, w_t^write, e_t, a_t) (eqs. 3-4)
    y_t               = W [h_t, r_t] + b                    (output logits; sigmoid outside)

All heads address the same ``M_{t-1}``, so they are addressed in one batched call; reads see
the memory before this step's write.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor, nn

from ntm.math.addressing import address
from ntm.math.memory import (
    CONSTANT_INIT_VALUE,
    MemoryState,
    check_initial_weighting,
    check_memory_init,
    initial_memory,
    read,
    write,
)
from ntm.math.similarity import check_similarity
from ntm.models.controller import ControllerState, check_controller_kind, make_controller
from ntm.models.heads import HeadParameters, Heads, check_write_gate_bias

__all__ = ["NTMConfig", "NTMState", "Trace", "NTM", "SETTINGS", "config_from", "check_config",
           "from_config", "parameter_count"]


@dataclass
class NTMConfig:
    """Everything that fixes an NTM's shapes.

    input_size / output_size: widths of the external input and output.
    memory_locations / memory_width: N and M of the memory matrix.
    read_heads / write_heads: number of heads of each kind (the paper's "heads" counts
        read/write pairs).
    controller: a name in ``ntm.models.controller.CONTROLLERS``; controller_size and
        controller_layers its width and depth.
    shift_radius: R, allowing shifts -R..R; needs 2R + 1 <= N.
    memory_init: ``constant`` (1e-6 everywhere), ``learned`` or ``random``.
    initial_weighting: every head's ``w_0``: ``onehot`` (fixed focus on location 0) or
        ``learned`` (softmax of trained logits, one vector per head).
    clip: controller-to-head outputs clipped to [-clip, clip]; None for no clipping.
    similarity: the content score K of eq. 6: ``cosine`` (the paper's), ``dot``,
        ``scaled_dot`` or ``additive`` (``ntm.math.similarity``).
    controller_layer_norm: layer normalisation in each controller layer
        (``ntm.models.controller``).
    write_gate_bias: the write heads' initial interpolation-gate bias (``Heads``), or None.
    """

    input_size: int
    output_size: int
    memory_locations: int = 128
    memory_width: int = 20
    read_heads: int = 1
    write_heads: int = 1
    controller: str = "lstm"
    controller_size: int = 100
    controller_layers: int = 1
    shift_radius: int = 1
    memory_init: str = "constant"
    initial_weighting: str = "onehot"
    clip: float | None = 20.0
    similarity: str = "cosine"
    controller_layer_norm: bool = False
    write_gate_bias: float | None = None

    def __post_init__(self) -> None:
        for name in ("input_size", "output_size", "memory_locations", "memory_width",
                     "controller_size", "controller_layers"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} is {getattr(self, name)}; it must be at least 1.")
        for name in ("read_heads", "write_heads", "shift_radius"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} is {getattr(self, name)}; it must be at least 0.")
        if self.read_heads + self.write_heads == 0:
            raise ValueError("read_heads and write_heads are both 0; at least one of them must "
                             "be 1 or more.")
        if 2 * self.shift_radius + 1 > self.memory_locations:  # 2R + 1 shifts of N locations
            raise ValueError(
                f"shift_radius is {self.shift_radius}; it must be at most "
                f"{(self.memory_locations - 1) // 2} = (memory_locations - 1) / 2."
            )
        check_controller_kind(self.controller)
        if self.clip is not None and self.clip <= 0:
            raise ValueError(f"clip is {self.clip}; it must be greater than 0, or None.")
        check_memory_init(self.memory_init)
        check_initial_weighting(self.initial_weighting)
        check_similarity(self.similarity)
        check_write_gate_bias(self.write_gate_bias)


class NTMState(NamedTuple):
    """The episode state carried from step to step: controller state and memory state.

    ``memory.weights`` holds every head's weighting, read heads first: [B, H_read + H_write, N].
    """

    controller: ControllerState
    memory: MemoryState


class Trace(NamedTuple):
    """What happened at every step of a sequence, for pictures; detached, leading axis T.

    read_weights: [T, B, H_read, N]; write_weights: [T, B, H_write, N];
    erase, add: [T, B, H_write, M]; reads: [T, B, H_read, M];
    memory: [T, B, N, M], the memory after each step's write.
    """

    read_weights: Tensor
    write_weights: Tensor
    erase: Tensor
    add: Tensor
    reads: Tensor
    memory: Tensor


class NTM(nn.Module):
    """A Neural Turing Machine with an LSTM or feedforward controller (see module docstring).

    ``forward(inputs [T, B, input_size]) -> logits [T, B, output_size]``; with
    ``trace=True`` it returns ``(logits, Trace)``.

    The episode state is reset at the start of every sequence to bias values, as in the
    paper: learned biases for the controller state and the previous reads; every head's
    previous weighting per ``initial_weighting``; the memory per ``memory_init``. Under a
    constant memory every location looks alike, so a uniform start could never break that
    symmetry: ``onehot`` focuses every head on location 0, from which location-based
    addressing walks; ``learned`` is a softmax of trained logits started from Gaussian noise
    (the paper's learned bias), asymmetric from the first step.
    """

    def __init__(self, config: NTMConfig) -> None:
        super().__init__()
        self.config = c = config
        n, m = c.memory_locations, c.memory_width
        self.controller = make_controller(
            c.controller, c.input_size + c.read_heads * m, c.controller_size, c.controller_layers,
            c.controller_layer_norm,
        )
        self.heads = Heads(
            c.controller_size, c.read_heads, c.write_heads, m, c.shift_radius, c.clip,
            c.similarity, c.write_gate_bias,
        )
        self.output = nn.Linear(c.controller_size + c.read_heads * m, c.output_size)
        self.initial_reads = nn.Parameter(torch.zeros(c.read_heads, m))
        if c.initial_weighting == "learned":
            self.initial_weight_logits = nn.Parameter(torch.randn(c.read_heads + c.write_heads, n))
        else:
            focus = torch.zeros(c.read_heads + c.write_heads, n)
            focus[:, 0] = 1.0
            self.register_buffer("initial_weights", focus)
        if c.memory_init == "learned":
            bound = (n + m) ** -0.5
            self.memory_bias = nn.Parameter(torch.empty(n, m).uniform_(-bound, bound))
        else:  # constant; for random it only carries shape, dtype and device
            self.register_buffer("memory_bias", torch.full((n, m), CONSTANT_INIT_VALUE))

    def initial_state(self, batch_size: int, generator: torch.Generator | None = None) -> NTMState:
        """The state at the start of a sequence for ``batch_size`` sequences."""
        memory = initial_memory(self.config.memory_init, self.memory_bias, batch_size, generator)
        return NTMState(
            controller=self.controller.initial_state(batch_size),
            memory=MemoryState(
                memory=memory,
                weights=self.start_weights().expand(batch_size, -1, -1),
                reads=self.initial_reads.expand(batch_size, -1, -1),
            ),
        )

    def start_weights(self) -> Tensor:
        """Every head's weighting ``w_0`` before the first step: [H_read + H_write, N]."""
        if self.config.initial_weighting == "learned":
            return torch.softmax(self.initial_weight_logits, dim=-1)
        return self.initial_weights

    def step(self, x: Tensor, state: NTMState) -> tuple[Tensor, NTMState, HeadParameters]:
        """One time step.

        Args:
            x: [B, input_size] external input x_t.
            state: the state after step t - 1.

        Returns:
            the controller output h_t [B, C], the state after step t, and this step's head
            parameters (erase and add vectors for the trace).
        """
        c = self.config
        previous = state.memory
        controller_input = torch.cat([x, previous.reads.flatten(1)], dim=-1)  # (B, in + Hr*M)
        h, controller_state = self.controller(controller_input, state.controller)  # (B, C)
        p = self.heads(h)
        weights = address(  # (B, H, N), eqs. 5-9
            previous.memory, previous.weights, p.key, p.key_strength, p.gate,
            p.shift_weighting, p.sharpening, self.heads.similarity,
        )
        reads = read(previous.memory, weights[:, : c.read_heads])  # (B, Hr, M), eq. 2
        memory = write(previous.memory, weights[:, c.read_heads :], p.erase, p.add)  # eqs. 3-4
        new_state = NTMState(controller_state, MemoryState(memory, weights, reads))
        return h, new_state, p

    def forward(
        self, inputs: Tensor, trace: bool = False, generator: torch.Generator | None = None
    ) -> Tensor | tuple[Tensor, Trace]:
        """Runs whole sequences from the initial state.

        Args:
            inputs: [T, B, input_size], on the device of the model.
            trace: also return a ``Trace`` of every step.
            generator: random source for the ``random`` memory initialisation.

        Returns:
            logits [T, B, output_size] (apply a sigmoid for bit probabilities), and the
            trace when asked.
        """
        state = self.initial_state(inputs.shape[1], generator)
        if not trace:
            hs, reads = self.steps(inputs, state)
            return self.output(torch.cat([hs, reads.flatten(2)], dim=-1))  # (T, B, out)
        hs, all_reads = [], []
        record: list[tuple[Tensor, ...]] = []
        for x in inputs.unbind(0):
            h, state, p = self.step(x, state)
            hs.append(h)
            all_reads.append(state.memory.reads)
            record.append(_trace_step(state, p, self.config.read_heads))
        features = torch.cat(
            [torch.stack(hs), torch.stack(all_reads).flatten(2)], dim=-1
        )  # (T, B, C + Hr*M)
        logits = self.output(features)  # (T, B, out)
        return logits, Trace(*(torch.stack(field) for field in zip(*record, strict=True)))

    def steps(self, inputs: Tensor, state: NTMState) -> tuple[Tensor, Tensor]:
        """``step`` over every time step of ``inputs`` from ``state``.

        Args:
            inputs: [T, B, input_size].
            state: the state before the first step.

        Returns:
            the controller outputs h_t [T, B, C] and the reads r_t [T, B, H_read, M]. The fast
            path (``ntm.models.fast``) replaces this method by compiled chunks of steps.
        """
        hs, reads, _ = run_steps(self.step, inputs, state)
        return hs, reads


def run_steps(step, inputs: Tensor, state: NTMState) -> tuple[Tensor, Tensor, NTMState]:
    """``step(x_t, state) -> (h_t, state, p)`` over every time step of ``inputs`` [T, B, in]:
    h [T, B, C], the reads [T, B, H_read, M] and the state after the last step."""
    hs, reads = [], []
    for x in inputs.unbind(0):
        h, state, _ = step(x, state)
        hs.append(h)
        reads.append(state.memory.reads)
    return torch.stack(hs), torch.stack(reads), state


def _trace_step(state: NTMState, p: HeadParameters, read_heads: int) -> tuple[Tensor, ...]:
    mem = state.memory
    return tuple(
        t.detach()
        for t in (
            mem.weights[:, :read_heads], mem.weights[:, read_heads:], p.erase, p.add,
            mem.reads, mem.memory,
        )
    )


#: The config setting behind each ``NTMConfig`` field (conf/model, conf/controller,
#: conf/memory); the config layer names these settings in ``NTMConfig``'s errors.
SETTINGS = {
    "memory_locations": "memory.N",
    "memory_width": "memory.M",
    "read_heads": "model.read_heads",
    "write_heads": "model.write_heads",
    "controller": "controller.kind",
    "controller_size": "controller.size",
    "controller_layers": "controller.layers",
    "controller_layer_norm": "controller.layer_norm",
    "shift_radius": "model.shift_radius",
    "memory_init": "memory.init",
    "initial_weighting": "memory.initial_weighting",
    "clip": "model.clip",
    "similarity": "model.similarity",
    "write_gate_bias": "model.write_gate_bias",
}


def config_from(cfg, input_size: int, output_size: int) -> NTMConfig:
    """The NTM's shapes from a run's config (``cfg.memory.N`` and so on, per ``SETTINGS``)."""
    def setting(key: str):
        node = cfg
        for part in key.split("."):
            node = node[part]
        return node

    return NTMConfig(input_size, output_size,
                     **{name: setting(key) for name, key in SETTINGS.items()})


def check_config(cfg) -> None:
    """``NTMConfig``'s rules on a run's config, without building the model (ValueError)."""
    config_from(cfg, 1, 1)


def from_config(cfg, input_size: int, output_size: int) -> NTM:
    """The NTM a run's config describes (initialised from torch's global RNG)."""
    return NTM(config_from(cfg, input_size, output_size))


def parameter_count(model: nn.Module) -> int:
    """Number of trained parameters (buffers such as a constant memory bias excluded).

    For the paper's copy settings (input 9, output 8, controller 100, one read and one write
    head, memory 128 x 20, shifts -1..1; ``tests/test_ntm.py`` derives them by hand):

    ================  ========================  ======================  ===========
    controller        memory_init="constant"    memory_init="learned"   paper
    ================  ========================  ======================  ===========
    LSTM              62,880                    65,440                  67,561
    feedforward       13,280                    15,840                  17,162
    ================  ========================  ======================  ===========

    LSTM: 52,400 (``4*100*(29+100)`` weights + ``2*4*100`` biases) + 200 (learned initial h,
    c) + 9,292 (head layer, 100 -> 92) + 968 (output layer, 120 -> 8) + 20 (initial read).
    Feedforward: 3,000 (29 -> 100) + 9,292 + 968 + 20. ``learned`` adds the 2,560 cells of the
    memory bias. We do not match the paper exactly, and cannot: the paper does not publish its
    head or output layout. The known differences: a ``constant`` memory bias is a buffer, not
    counted; PyTorch's LSTM cell has two bias vectors (``b_ih``, ``b_hh``; 400 more than one);
    the heads' previous weightings start from a fixed one-hot buffer rather than a learned
    bias (a learned one would add 2 x 128); the paper's LSTM-minus-feedforward gap (50,399)
    differs from ours (49,600) by 799, so its controllers differ from ours in further ways
    (peephole connections in its LSTM, for example, would add 300).
    """
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def main() -> None:
    """``python -m ntm.models.ntm``: the parameter counts of the paper's copy settings."""
    for controller, paper in (("lstm", 67_561), ("feedforward", 17_162)):
        for init in ("constant", "learned"):
            model = NTM(NTMConfig(9, 8, controller=controller, memory_init=init))
            print(f"copy, {controller:<11} controller, memory_init={init:<8}: "
                  f"{parameter_count(model):>6,} parameters (paper: {paper:,})")


if __name__ == "__main__":
    main()
