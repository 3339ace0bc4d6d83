"""The fast path of the NTM step, chosen by ``train.compile`` (``auto``, ``true`` or ``false``).

The eager model (``ntm.models.ntm.NTM`` on the pure functions of ``ntm.math.addressing`` and
``ntm.math.memory``) stays the readable reference. The fast path changes no module, parameter or
state-dict key: ``accelerate`` only replaces the model instance's ``step`` (one time step:
controller -> heads -> address -> read -> write) by a compiled version of the same method.
``NTM.forward`` calls ``self.step`` once per time step, so one compiled graph serves every
sequence length; nothing is padded and no length is ever recompiled.

- CPU (``train.compile=true``): ``torch.compile`` (inductor's C++ code generation) of the
  step, static shapes. Graphs: for training, one for the first step of a sequence (its
  constant memory needs no gradient) and one for the later steps; one for evaluation
  (without gradients); again for each other batch size. ``tests/test_fast.py`` checks that
  lengths 1..20 compile nothing more.
- CUDA (``train.compile=true``): the same with ``mode="reduce-overhead"`` (CUDA graphs, one
  recorded per step position, so per length bucket). Never run: no GPU was available when it
  was written; its tests are marked ``gpu`` and deselected without CUDA.

Compiled code is cached on disk by torch's FX graph and AOT autograd caches under
``TORCHINDUCTOR_CACHE_DIR`` (torch's default ``/tmp/torchinductor_$USER``), so a second
process with the same shapes skips inductor's code generation and the C++ compiler.

Measurements (``benchmarks/train_speed.py --threads 1 --time-to-solve`` on the 2-core CPU with
nothing else running; medians, eager and fast alternating in one process): the compiled step
trains 1.6-2.1x as many sequences per second as eager at batch 1..256 (1.86x at batch 1, 2.07x
at 4, 1.97x at 16, 1.80x at 64, 1.59x at 256) and is 1.5-2.3x faster forward+backward at length
20. Compiling for one training batch and one evaluation batch took 50 s in a first process and
8 s in a second one with the cache (143 s and 22 s on a busy machine). Copy's default of
today (batch 8, seed 0, from process start): 55 s eager, 86 s compiled with an empty cache
(the compiled run took another path, 8,000 sequences against 4,800). An older measurement,
of copy's default of that time (batch 64, Adam 2e-3 and eps 1e-8, not today's batch 8,
which solves in about 4,800-6,400 sequences; seed 0, ``train.threads=1``, from process start,
eager run then compiled run): eager 176 s (28,800 sequences), compiled 133 s with an empty
cache, compile included (41,600 sequences: the compiled kernels round differently, so the run
takes another path); repeated while the machine's load rose from about 6 to 12: eager 211 s,
compiled 304 s.

``auto`` stays eager for now: on today's copy default the compiled run was slower to solve
(compile time counted, and its rounding took it down a longer path); the older comparisons
disagree (one seed, not side by side, under a load that changed); the compile time varies
two- to threefold with the machine's load; and with ``auto``
compiling, every tiny training run of the test suite would compile (tens of seconds each)
unless its settings pin ``train.compile=false`` (the shared ``TINY`` settings of
``tests/conftest.py`` do). ``true`` is the setting for runs of more than a minute or two, and
the default of the two tasks whose runs last an hour (``conf/task/priority_sort.yaml``,
``conf/task/dynamic_ngrams.yaml``): there the compiled step trains 1.3x (priority sort) and
2.2x (N-grams) the sequences per second of the eager one on a thread, for one to three
minutes of compiling in the first process (less with the on-disk cache). Where inductor finds
no C++ compiler, ``true`` logs one warning and runs eagerly rather than failing at the first
step. On CUDA ``auto`` is eager as well, until the CUDA-graph path has been measured.

Candidates measured and not chosen (same conditions):

- a dynamic batch dimension (``dynamic=True``): 97 s to compile (static: 49 s) and slower
  to run (forward+backward at length 20, batch 1: 31.6 ms against 26.8 ms static);
- the hand-fused addressing + read + write ``torch.autograd.Function`` of ``ntm.math.fused``
  (hand-written backward, gradchecked): 1.03-1.05x eager at batch 1, 16 and 64. It runs the
  same number of operations, only fewer autograd nodes: the time is in the operations;
- the whole sequence as one graph (lengths padded to a bucket): not built; a length-20
  graph is twenty steps' graph, so its compile would be many times the 50 s above.
"""

from __future__ import annotations

import logging

import torch
from torch import Tensor, nn

__all__ = ["COMPILE_SETTINGS", "choose", "accelerate", "cpp_compiler"]

log = logging.getLogger("ntm.train")

#: The values ``train.compile`` allows (Hydra reads ``true``/``false`` as booleans).
COMPILE_SETTINGS = ("auto", "true", "false")


def normalise(setting: object) -> str:
    """``train.compile`` as one of ``COMPILE_SETTINGS`` (booleans and any case accepted), or
    the value's text when it is none of them."""
    return str(setting).lower()


def choose(setting: object, device: torch.device, model: nn.Module) -> str | None:
    """The compile mode for ``model`` on ``device`` under ``setting``: None for eager,
    ``"default"`` (inductor) or ``"reduce-overhead"`` (CUDA graphs).

    ``auto`` is eager for now (measurements and reasons in the module docstring).
    """
    value = normalise(setting)
    if value not in COMPILE_SETTINGS:
        raise ValueError(f"train.compile is {setting!r}; allowed values are "
                         f"{', '.join(COMPILE_SETTINGS)}.")
    if value == "false" or not hasattr(model, "step"):  # the LSTM baseline has no step
        return None
    mode = "reduce-overhead" if device.type == "cuda" else "default"
    return mode if value == "true" else None


def accelerate(model: nn.Module, setting: object, device: torch.device,
               backend: str = "inductor") -> str | None:
    """Replaces ``model.step`` by its compiled form when ``setting`` chooses it (see
    ``choose``); returns the compile mode used, or None when the model stays eager.

    Shapes are static (``dynamic=False``): one graph per batch size, which measured faster to
    compile and to run than a dynamic batch dimension (see the module docstring). Only steps
    under autograd (training) run compiled: evaluation and pictures (``torch.no_grad``) run
    the eager step, since at their large batches the compiled one saves about a fifth of a
    second per 500 sequences and its graph costs seconds to compile. A sequence's initial
    state (expanded biases, stride 0) is made contiguous, and its constant tensors (a
    constant memory, a one-hot start weighting) become leaves that require a gradient (which
    is dropped), so that the first step runs the same graph as every later one (otherwise it
    compiles a training graph of its own). ``backend`` is for tests (``aot_eager``)."""
    mode = choose(setting, device, model)
    if mode is None:
        return None
    if mode == "default" and backend == "inductor" and cpp_compiler() is None:
        log.warning("train.compile: inductor found no C++ compiler (set CXX or install g++), "
                    "so the step runs eagerly.")
        return None
    # Graphs are kept per batch size and per model built in the process (tests, sweeps):
    # more than dynamo's default of 8.
    torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, 64)
    eager_step = type(model).step.__get__(model)  # the class's methods, bound to this model
    eager_initial_state = type(model).initial_state.__get__(model)
    options = {"mode": mode} if backend == "inductor" else {}
    compiled = torch.compile(eager_step, backend=backend, dynamic=False, fullgraph=True,
                             **options)
    cuda_graphs = mode == "reduce-overhead"

    def initial_state(batch_size: int, generator: torch.Generator | None = None):
        state = eager_initial_state(batch_size, generator)
        if not torch.is_grad_enabled():
            return state
        if cuda_graphs:  # a new sequence: the previous one's graph outputs may be reused
            torch.compiler.cudagraph_mark_step_begin()
        return _like_later_steps(state)

    def step(x: Tensor, state):
        return compiled(x, state) if torch.is_grad_enabled() else eager_step(x, state)

    step.compiled = compiled  # for tests
    model.initial_state, model.step = initial_state, step
    return mode


def cpp_compiler() -> str | None:
    """The C++ compiler inductor's CPU code generation would use, or None when there is none
    (then compiling would fail at the first step, so ``accelerate`` stays eager instead)."""
    try:
        from torch._inductor.cpp_builder import get_cpp_compiler
        return get_cpp_compiler()
    except Exception:  # InvalidCxxCompiler, or a torch without this (private) function
        return None


def _like_later_steps(state: tuple) -> tuple:
    """``state`` (nested tuples and named tuples of tensors) with contiguous tensors, those
    that do not require a gradient made leaves that do."""
    def like(t: Tensor) -> Tensor:
        t = t.contiguous()
        return t if t.requires_grad else t.detach().requires_grad_()

    fields = [_like_later_steps(f) if isinstance(f, tuple) else like(f) for f in state]
    return type(state)(*fields) if hasattr(state, "_fields") else tuple(fields)
