"""The fast path of the NTM step, chosen by ``train.compile`` (``auto``, ``true`` or ``false``).

The eager model (``ntm.model.NTM`` on the pure functions of ``ntm.addressing`` and
``ntm.memory``) stays the readable reference. The fast path changes no module, parameter or
state-dict key: ``accelerate`` only replaces the model instance's ``step`` (one time step:
controller -> heads -> address -> read -> write) by a compiled version of the same method.
``NTM.forward`` calls ``self.step`` once per time step, so one compiled graph serves every
sequence length; nothing is padded and no length is ever recompiled.

- CPU: ``torch.compile`` (inductor's C++ code generation) of the step. Graphs compiled: one
  for the first step (its state is the expanded initial bias, with other strides), one for
  the later steps, each for training (with gradients) and for evaluation (without): about
  four in all. A third batch size makes dynamo mark the batch dimension dynamic, so training,
  evaluation and picture batches do not recompile without end (``tests/test_fast.py`` counts).
- CUDA: the same with ``mode="reduce-overhead"`` (CUDA graphs). Not run in this repository's
  sessions so far (no GPU); its tests are marked ``gpu``.

Compiled code is cached on disk by torch's FX graph and AOT autograd caches, under
``TORCHINDUCTOR_CACHE_DIR`` (torch's default: ``/tmp/torchinductor_$USER``), so a second
process with the same model shapes compiles in seconds rather than tens of seconds.

``auto`` decides by measurement (``benchmarks/train_speed.py``; figures in the docstring of
``AUTO``): see ``choose``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["COMPILE_SETTINGS", "choose", "accelerate"]

#: The values ``train.compile`` allows (Hydra reads ``true``/``false`` as booleans).
COMPILE_SETTINGS = ("auto", "true", "false")


def normalise(setting: object) -> str:
    """``train.compile`` as one of ``COMPILE_SETTINGS`` (booleans and any case accepted), or
    the value's text when it is none of them."""
    return str(setting).lower()


def choose(setting: object, device: torch.device, model: nn.Module) -> str | None:
    """The compile mode for ``model`` on ``device`` under ``setting``: None for eager,
    ``"default"`` (inductor) or ``"reduce-overhead"`` (CUDA graphs).

    ``auto`` compiles on CUDA, and on the CPU only ... (see module docstring).
    """
    value = normalise(setting)
    if value not in COMPILE_SETTINGS:
        raise ValueError(f"train.compile is {setting!r}; allowed values are "
                         f"{', '.join(COMPILE_SETTINGS)}.")
    if value == "false" or not hasattr(model, "step"):  # the LSTM baseline has no step
        return None
    mode = "reduce-overhead" if device.type == "cuda" else "default"
    if value == "true":
        return mode
    return mode if device.type == "cuda" else None


def accelerate(model: nn.Module, setting: object, device: torch.device,
               backend: str = "inductor") -> str | None:
    """Replaces ``model.step`` by its compiled form when ``setting`` chooses it (see
    ``choose``); returns the compile mode used, or None when the model stays eager.

    Shapes are static (``dynamic=False``): one graph per batch size and gradient mode, which
    measured faster to compile and to run than a dynamic batch dimension (see the module
    docstring). The first step's state (expanded biases, stride 0) is made contiguous so that
    it runs the same graph as every later step. ``backend`` is for tests (``aot_eager``)."""
    mode = choose(setting, device, model)
    if mode is None:
        return None
    # Graphs are kept per batch size (train, evaluation, its remainder, pictures) and per
    # model built in the process (tests, sweeps): more than dynamo's default of 8.
    torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, 64)
    eager_step = type(model).step.__get__(model)  # the class's method, bound to this model
    options = {"mode": mode} if backend == "inductor" else {}
    compiled = torch.compile(eager_step, backend=backend, dynamic=False, fullgraph=True,
                             **options)

    cuda_graphs = mode == "reduce-overhead"

    def step(x: Tensor, state):
        if not state.memory.memory.is_contiguous():  # the first step of a sequence
            if cuda_graphs:  # a new sequence: the previous one's graph outputs may be reused
                torch.compiler.cudagraph_mark_step_begin()
            state = _contiguous(state)
        return compiled(x, state)

    step.compiled = compiled  # for tests
    model.step = step
    return mode


def _contiguous(state: tuple) -> tuple:
    """``state`` (nested tuples and named tuples of tensors) with contiguous tensors."""
    fields = [_contiguous(f) if isinstance(f, tuple) else f.contiguous() for f in state]
    return type(state)(*fields) if hasattr(state, "_fields") else tuple(fields)
