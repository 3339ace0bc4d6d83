"""The fast path of the NTM step, chosen by ``train.compile`` (``auto``, ``true``, ``false`` or
``cudagraphs``).

The eager model (``ntm.models.ntm.NTM`` on the pure functions of ``ntm.math.addressing`` and
``ntm.math.memory``) stays the readable reference. The fast path changes no module, parameter or
state-dict key: ``accelerate`` only replaces the model instance's ``steps`` (every time step of a
sequence, each controller -> heads -> address -> read -> write) by compiled chunks of
``train.compile_steps`` steps (default 4). A sequence of T steps runs as ``ceil(T / K)`` calls
of one graph of K steps, its inputs padded at the end with zero vectors: the padded steps come
after every real one, so they change no logit and no gradient (the model is causal), and their
outputs are dropped. One graph serves every length; no length is recompiled.
``train.compile_steps=1`` compiles the step alone, the fast path before the setting, bit for bit
(the runs documented before it took their paths with it).

Why chunks: at small batches the compiled step's time went to the calls themselves, not the
arithmetic: dynamo's guards, AOT autograd's wrappers in the forward and again in the backward,
and the buffers, size checks and kernel calls of inductor's wrapper code, about 0.4 ms per
step (forward and backward) at batch 1 where the arithmetic takes a few microseconds. A graph of
four steps pays the calls a quarter as often, and inductor fuses across its steps; inductor's
size and stride checks of its extern kernels (``size_asserts``, about a hundred per call of a
four-step graph) are turned off. Measured on copy's default model (``python
benchmarks/train_speed.py [--batch-sizes 1 4 16 64] -- train.compile_steps=K``, two threads,
alone on the machine; training sequences per second against eager in the same process, and the
compile of a first process with an empty cache; inductor's Python wrapper, before
``train.compile_wrapper``, and Adam one parameter at a time):

    K   batch 1: seq/s (x eager)   batch 4   batch 16   batch 64   compile: first, cached
    1   110 (1.81x)                2.07x     2.05x      1.96x      19.3 s, 3.8 s
    2   200 (2.93x)                3.13x     3.03x      2.40x      25.1 s, 4.5 s
    4   203 (3.24x)                3.37x     3.26x      2.70x      32.3 s, 3.8 s
    8   235 (3.48x)                4.14x     3.67x      2.73x      47.7 s, 4.5 s

(each row its own process, two threads, eager 61-68 sequences/s at batch 1; K = 4 also at
batch 256: 1.75x, where the arithmetic dominates and padding costs). Four steps is the default:
with the Python wrapper above 150 sequences/s at batch 1, 3.3x eager at 16 and 2.7x at 64, at
32 s of compiling in a first process (one step: 19 s) and 4 s with the cache. Eight steps gain
a little more and compile for 48 s. At batch 1 no row reaches 4x eager: the forward and
backward pass alone is 4.4x at K = 4 (7.5 against 32.6 ms at length 20); the parts of a
training step that are not compiled (sampling, clipping, Adam) stayed as they were. With the
C++ wrapper below: 3.70-3.80x on the fast machine, 4.33-4.89x on a slower one.

Why inductor's C++ wrapper (``train.compile_wrapper``, default ``cpp``): what a four-step
graph's call still cost at batch 1 was largely Python, in inductor's generated wrapper (its
buffer allocations and kernel calls) and in AOT autograd's wrappers. ``cpp`` has inductor
write that wrapper in C++, pool the graph's intermediate buffers (``memory_planning``) and
build the kernels apart from the wrapper (``cpp_wrapper_build_separate``; built in one piece
with it, a first process compiled for 40.6 s against 32-33 s, ``python
benchmarks/train_speed.py`` with ``TORCHINDUCTOR_CPP_WRAPPER=1`` and then with ``cpp``, the same
day, and trained at batch 1 at 3.85x and 4.01x eager in two runs against the 3.70-3.80x below,
within the machine's drift); the optimizers also update all parameters per call (``foreach``,
``build_optimizer``).
The kernels are the same, so every result is the same bit for bit (``tests/test_fast.py``,
``tests/test_config.py``; the documented N-grams run's first four evaluations, recall's and
priority sort's first ones, all equal). Copy's default model, ``python
benchmarks/train_speed.py [-- train.compile_wrapper=python]``, one process each, alone on the
machine, two threads, one after the other (eager 95 and 77 sequences/s at batch 1 in the two
processes: compare ratios, not rates):

    wrapper    batch 1   batch 4   batch 16   batch 64   batch 256   compile: first, cached
    cpp        3.80x     3.74x     3.10x      2.52x      1.71x       30.3 s, 3.9 s
    python     3.34x     3.13x     3.01x      2.40x      1.75x       29.2 s, 3.6 s

(two more runs of ``cpp`` that day: 3.70x and 3.72x at batch 1; forward+backward at length 20,
batch 1: 4.60x eager with ``cpp``, 4.09x with ``python``). On a slower day (eager 33
sequences/s at batch 1), with the precompiled headers built by the child process (below):
4.35x, 4.12x, 3.87x, 2.67x and 2.18x, 37.8 s and 4.9 s to compile; the ratios move with the
machine's speed, so compare them within one run.
Priority sort's default (five head pairs, batch 16) trained its steps 10-200 in 28.3 s against
41.1 s (1.45x), recall's (batch 64, one step per graph) its steps 150-300 in 6.3 s against 6.6
s, and the N-grams default (batch 64, one step per graph) its steps 50-200 in 27.2 s against
31.7 s, each on the same path, one run after the other (docs/training.md, "The compiled step",
has the commands). Copy's default solves
no sooner (``python benchmarks/time_to_solve.py --against 'train.compile_wrapper=python'``:
10 of 10 both, the same sequences seed by seed, a median 9.5 s from process start against
9.3 s, per seed 1.00x): at batch 8 its seconds to the solve are mostly start-up and
evaluations. A first process compiles about a second longer (30.3 s against 29.2 s above).

- CPU (``train.compile=true``, and ``auto`` where inductor finds a C++ compiler):
  ``torch.compile`` (inductor's C++ code generation) of the chunk, static shapes, one graph
  per training batch size. A sequence's initial state is made to look like the state a chunk
  hands the next (contiguous, its constant tensors leaves that require a gradient), so the
  first chunk does not compile a graph of its own. Only steps under autograd run compiled:
  evaluation and pictures (``torch.no_grad``) run the eager steps (an evaluation batch of 500
  copy sequences of length 20 takes about 47 ms eagerly, 30 ms in a compiled four-step graph,
  not worth a second graph's compile). ``tests/test_fast.py`` checks that lengths 1..20
  compile nothing more. Under ``auto``, a compile that fails logs one warning and the steps
  run eagerly.
- CUDA (``train.compile=true``): the same compile, inductor's Triton kernels, without CUDA
  graphs. The GPU figures here and below were measured with one step per graph; graphs of
  four steps have not run on a GPU (the tests marked ``gpu`` exercise them, but have not been
  run since). Measured on one
  H200 (torch 2.11; ``benchmarks/train_speed.py --batch-sizes 1 64
  --repeats 3 --no-compile-times --fast-mode default``): 1.74x eager's training sequences/s
  at batch 1 and 2.05x at batch 64, and six training steps match eager
  (``tests/test_fast.py``, marked ``gpu``). Copy's default solved on seeds 0-2 with it (4,800
  to 9,600 sequences; eager 4,000 to 9,592), and in less time than eager on two of the three,
  but those runs shared the GPU with others; until ten seeds have been timed one at a time
  there, ``auto`` stays eager on CUDA.
- CUDA graphs (``train.compile=cudagraphs``, CUDA only): the same kernels with
  ``mode="reduce-overhead"``, CUDA graph trees recorded per step position and, for the
  backward, per length. On the H200 (``bash benchmarks/gpu_check.sh``): 2.45x eager at batch
  1, 3.64x at 64, 3.90x at 1024 (36.9, 1,095 and 29,231 sequences/s), at the price of 31-37 s
  of compiling and recording per batch size (inductor alone: 12-16 s). Every training step of
  two copy runs checked against eager (``benchmarks/step_check.py``) matched (gradients within
  1.7e-4 relative), the falls to chance first seen with CUDA graphs came with inductor without
  graphs too (copy's own collapses at batch 8, which eager runs show as well), and seeds 0-2 of
  copy solved in all three modes (docs/training.md, "On a GPU"). Compiled runs on the GPU are
  not reproducible run to run; eager ones were. ``true`` stays without graphs, since its
  compile is shorter and copy's solves are short; graphs pay in long runs.

Compiled code is cached on disk by torch's FX graph and AOT autograd caches under
``TORCHINDUCTOR_CACHE_DIR`` (torch's default ``/tmp/torchinductor_$USER``), so a second
process with the same shapes skips inductor's code generation and the C++ compiler.

Where a first process's compile goes (copy's default, four steps per graph, one thread, on a
machine busy with two other runs, so the seconds are inflated): 29 runs of the C++ compiler
took 44.5 of 69.3 s, six of them inductor's probe of the CPU's instruction sets (about 15 s,
run on the main thread at the first kernel, after tracing) and 23 the kernels (about 1.5 s
each; ``-O2`` would save a tenth to a fifth of that, not offered by inductor's settings, and no
line tables, ``aot_inductor.enable_line_tables=False``, showed no gain in two first processes
each way); the rest is Python (dynamo, AOT autograd, inductor's lowering and code generation).
``accelerate`` therefore starts the probe in a child process, which builds what inductor's
probe builds while the first chunk is traced: the first process, alone on the machine with
empty caches (inductor's precompiled headers too), took a median 35.8 s against 39.5 s without
it, three of each alternating (``python benchmarks/train_speed.py --compile-pairs 3``; with the
Python wrapper, on an earlier day); with the C++ wrapper, on a faster day, 29.4 s against 32.7
s. With the C++ wrapper a first process also builds two precompiled headers (inductor's
``cpp_cache_precompile_headers``: the wrapper's and the kernels', 6-7 s of the compiler each on
a slow day), one after the other on the training thread at the first graph's build; without
precompiled headers every build parses the headers itself and the first process took as long
(46.4 s against 46.5 s, one each). So the child now builds those headers too, side by side,
once the probe is done (``start_prebuild``, ``ntm.models.prebuild``; the headers and command
lines are inductor's own, recorded from a tiny compile with the run's options, so nothing
compiled changes): three first processes each way, alternating, on a slow day (eager 31
sequences/s at batch 1), a median 40.8 s against 47.8 s with no child at all (later that day,
slower still: 47.7 s against 58.3 s), where four first processes with the probe alone had taken
44.8-53.3 s that day. The compile figures of the first table above were measured before, with
the precompiled header already built.

Measurements of one step per graph (``train.compile_steps=1``, the fast path until four became
the default; the 2-core CPU with nothing else running; ``benchmarks/train_speed.py`` for
the first two, medians, eager and fast alternating in one process). Copy's default model (the
feedforward NTM in 21 locations, two threads): the compiled step trains 2.05x as many
sequences per second as eager at batch 1, 2.05x at 4, 1.91x at 16, 1.92x at 64 and 1.82x at
256, and is 1.8-2.4x faster forward+backward at length 20; compiling one training step took
17 s in a first process and 3.6 s in a second one with the cache. The LSTM NTM in 128
locations (copy's default until the sixth round, one thread): 1.70x, 2.05x, 2.10x, 1.69x and
1.55x; compiling took 37 s and 5 s (50 s and 8 s when the first step and evaluation compiled
graphs of their own). Copy's default before its write gate, seeds 0-9, one process at a time
with two threads, from process start to the solve, compiled and eager side by side (``python
benchmarks/time_to_solve.py --against 'train.compile=false' train.compile_steps=1
model.write_gate_bias=null``, the cache warm): compiled 10 of
10, median **20.6 s** (6,000 sequences), eager 10 of 10, median 31.5 s (5,600 sequences), per
seed a median 0.56x the eager seconds. The compiled kernels round differently, so a seed takes
another path (seed 0: 5,600 sequences compiled, 16,000 eager). The LSTM default the same way
(one cache for the ten, empty before seed 0): compiled median 45.2 s (seed 0 with the empty
cache 84.6 s), eager 53.1 s. Associative recall's default, at Adam 2e-3 (its rate then):
compiled 10 of 10, median 78.7 s (52,800 sequences; seed 0 with an empty cache 94 s); eager,
on an earlier day, 9 of 10, median 115 s. At its rate now, 3e-3, compiled: 10 of 10, median
57.2 s (41,600 sequences), side by side with 2e-3's 72.2 s on another day.

So ``auto`` compiles on the CPU: with the cache it solves copy in 0.56x of the eager time
(0.7-0.85x for the LSTM default on two days); only the very first run on a machine pays the
whole compile. The test suite's tiny runs pin ``train.compile=false`` (the shared ``TINY``
settings of ``tests/conftest.py``), and the study scripts under ``benchmarks/`` pin it for
every cell that ran eagerly. Where inductor finds no C++ compiler, ``auto`` runs eagerly
without a word and ``true`` logs one warning and runs eagerly rather than failing at the first
step.
Priority sort and dynamic N-grams set ``true`` in their task configs (1.3x and 2.2x the
sequences per second of eager there, one step per graph; N-grams measured at batch 32).
Priority sort runs four steps per graph (1.10x the training sequences per second of one, one
thread each, side by side);
dynamic N-grams keeps one (``train.compile_steps: 1``, as its documented runs ran; four were
not measured on it).
Associative recall keeps one step per graph as well: at its batch of 64 four steps solved no
sooner (seeds 0-9 side by side, 60.5 s against 55.9 s from process start, per seed 1.02x).

Candidates measured and not chosen (same conditions):

- a dynamic batch dimension (``dynamic=True``): 97 s to compile (static: 49 s, both with
  the three graphs of that time) and slower
  to run (forward+backward at length 20, batch 1: 31.6 ms against 26.8 ms static);
- the hand-fused addressing + read + write ``torch.autograd.Function`` of ``ntm.math.fused``
  (hand-written backward, gradchecked): 1.03-1.05x eager at batch 1, 16 and 64. It runs the
  same number of operations, only fewer autograd nodes: the time is in the operations;
- the whole sequence as one graph: the chunks above at K = 41 (copy's longest sequence);
  eight steps already compile for 48 s and gain little over four;
- the whole sequence as one loop in one graph, ``torch._higher_order_ops.scan`` (a prototype;
  the step compiled once, called once per sequence): on torch 2.13's CPU build inductor
  refuses it under autograd ("scan might be aliasing the input or the output") even for a
  one-layer tanh recurrence whose outputs are cloned, as its docstring asks; without
  gradients, or with the ``aot_eager`` backend (no fused kernels), it runs;
- inductor settings, compile seconds and copy sequences/s at batch 8 (one process each):
  vectorisation off (``cpp.simdlen=0``) 30 s and 145 seq/s against 28.5 s and 197 by default;
  one compile thread 42 s and tiling heuristics off 39 s, against 28.5 s by default, though
  measured while the eager step ran a fifth slower than before (no gain seen); inductor's
  instruction-set probe and source hash started in a background thread: no faster with the
  cache (6.7-7.8 s with it, 6.4-7.2 s without, four processes each, alternating; the probe
  alone, in a child process, gains in a first process and is kept: below);
- fewer calls' worth of overhead inside a call (copy's default, batch 1, one thread, on a day
  when repeats of one setting varied by a third): a four-step graph's forward saves 81 tensors
  for the backward and allocates 93 buffers, each a few Python operations in AOT autograd's and
  inductor's wrappers; a lower ``torch._functorch.config.activation_memory_budget`` (0.5, 0.1:
  more recomputed, less saved), ``torch.compiler.set_stance(skip_guard_eval_unsafe=True)`` and
  ``aggressive_fusion`` (the same 22 kernels) showed no gain beyond that noise. Of a training
  step at batch 1 (7.8 ms compiled), the forward took 3.9 ms, the backward 2.8, the clipping
  and Adam 0.8 (Adam alone 0.55 ms; torch's ``fused=True`` Adam 0.28 ms, not adopted: it rounds
  differently, so every documented compiled path would change), the sampling 0.2;
- each step of a chunk as one nested compile region (``torch.compiler.nested_compile_region``
  around a step taking and returning flat tensors, so that dynamo traces it once and reuses
  it): inductor's C++ wrapper does not implement it (``codegen invoke_subgraph is not
  implemented for cpp wrapper``), and with the Python wrapper a first process compiled for
  62.7 s against 42.3 s without regions (one each, a slow day);
- the backward graph compiled in a second child process beside the forward, then found in
  inductor's FX graph cache (``benchmarks/compile_split.py``): a first process took 48.8 s
  against 43.7 s, slower, since the two compiles shared the two cores with the early child;
- inductor's C++ wrapper alone (``cpp_wrapper``, the kernels built in one piece with it, no
  pooled buffers; an earlier trial, before the wrapper became ``train.compile_wrapper=cpp``
  above, measured on another day, at batch 16 for the solve): forward+backward of a
  length-20 batch of 8 in 41.0 ms against 43.9 ms (medians of 25, alternating in one
  process), yet copy at batch 16 took longer from process start to the solve with it on four
  seeds of five (by 6-19%; 11% less on the fifth; ``TORCHINDUCTOR_CPP_WRAPPER=1 python
  benchmarks/time_to_solve.py --seeds 1-5 train.batch_size=16 train.eval_every=50`` and the
  same without, each seed one after the other, to the same sequences), and its first compile
  is longer.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import torch
from torch import Tensor, nn

from ntm.models.ntm import run_steps
from ntm.models.prebuild import done_marker

__all__ = ["COMPILE_SETTINGS", "MAX_STEPS_PER_GRAPH", "PREBUILD_SCRIPT", "WRAPPERS", "choose",
           "accelerate", "cpp_compiler", "start_prebuild"]

log = logging.getLogger("ntm.train")

#: The values ``train.compile`` allows (Hydra reads ``true``/``false`` as booleans).
COMPILE_SETTINGS = ("auto", "true", "false", "cudagraphs")
#: The most time steps per compiled graph (``train.compile_steps``): eight compile for 48 s.
MAX_STEPS_PER_GRAPH = 64
#: The values ``train.compile_wrapper`` allows, and inductor's settings for each on the CPU:
#: ``cpp`` calls a graph's kernels from generated C++ (``cpp_wrapper``; the kernels built apart
#: from that C++, so that the two cores build them side by side) with its intermediate buffers
#: pooled (``memory_planning``); ``python`` from generated Python, the fast path before the
#: setting. The kernels, and so every result, are the same bit for bit.
WRAPPERS = {"cpp": {"cpp_wrapper": True, "cpp_wrapper_build_separate": True,
                    "memory_planning": True},
            "python": {}}


def normalise(setting: object) -> str:
    """``train.compile`` as one of ``COMPILE_SETTINGS`` (booleans and any case accepted), or
    the value's text when it is none of them."""
    return str(setting).lower()


def choose(setting: object, device: torch.device, model: nn.Module) -> str | None:
    """The compile mode for ``model`` on ``device`` under ``setting``: None for eager,
    ``"default"`` (inductor's kernels) or ``"reduce-overhead"`` (inductor's kernels in CUDA
    graphs, ``cudagraphs`` only).

    ``auto`` compiles on the CPU and stays eager on CUDA; ``true`` compiles on any device,
    without CUDA graphs; ``cudagraphs`` adds CUDA graphs and needs a CUDA device (the
    measurements and reasons are in the module docstring). ``accelerate`` also stays eager,
    silently under ``auto``, where inductor finds no C++ compiler.
    """
    value = normalise(setting)
    if value not in COMPILE_SETTINGS:
        raise ValueError(f"train.compile is {setting!r}; allowed values are "
                         f"{', '.join(COMPILE_SETTINGS)}.")
    if value == "cudagraphs" and device.type != "cuda":
        raise ValueError(f"train.compile is 'cudagraphs', which needs a CUDA device, but the run "
                         f"is on {device.type}; use true or auto there.")
    if value == "false" or not hasattr(model, "steps"):  # the LSTM baseline has no steps
        return None
    if value == "cudagraphs":
        return "reduce-overhead"
    if value == "true":
        return "default"
    return "default" if device.type == "cpu" else None  # auto


def accelerate(model: nn.Module, setting: object, device: torch.device,
               backend: str = "inductor", steps_per_graph: int = 4,
               wrapper: str = "cpp") -> str | None:
    """Replaces ``model.steps`` by compiled chunks of ``steps_per_graph`` time steps when
    ``setting`` chooses it (see ``choose``); returns the compile mode used, or None when the
    model stays eager.

    A sequence runs as ``ceil(T / steps_per_graph)`` calls of one compiled graph, its inputs
    padded at the end with zero vectors to a whole number of chunks; the padded steps come
    after every real one, so they change no logit and no gradient, and their outputs are
    dropped. Shapes are static (``dynamic=False``): one graph per training batch size, which
    measured faster to compile and to run than a dynamic batch dimension. Steps under
    ``no_grad`` (evaluation, pictures) run eagerly; a sequence's initial state is made to look
    like the state a chunk hands the next (``_like_later_steps``) so the first chunk runs the
    same graph; under ``auto`` a failed compile logs one warning and the steps run eagerly from
    then on, under ``true`` it raises (the module docstring has the reasons and figures).
    ``wrapper`` (``train.compile_wrapper``, one of ``WRAPPERS``) is how inductor's CPU code calls
    its kernels; on CUDA it changes nothing. ``backend`` is for tests (``aot_eager``)."""
    if not isinstance(steps_per_graph, int) or isinstance(steps_per_graph, bool) \
            or not 1 <= steps_per_graph <= MAX_STEPS_PER_GRAPH:
        raise ValueError(f"train.compile_steps is {steps_per_graph!r}; it must be an integer "
                         f"from 1 to {MAX_STEPS_PER_GRAPH}.")
    if wrapper not in WRAPPERS:
        raise ValueError(f"train.compile_wrapper is {wrapper!r}; allowed values are "
                         f"{', '.join(WRAPPERS)}.")
    mode = choose(setting, device, model)
    if mode is None:
        return None
    fall_back = normalise(setting) == "auto"
    on_cpu = mode == "default" and device.type == "cpu"
    if on_cpu and backend == "inductor" and cpp_compiler() is None:
        if not fall_back:
            log.warning("train.compile: inductor found no C++ compiler (set CXX or install "
                        "g++), so the step runs eagerly.")
        return None
    # Graphs are kept per batch size and per model built in the process (tests, sweeps):
    # more than dynamo's default of 8.
    torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, 64)
    eager_step = type(model).step.__get__(model)  # the class's methods, bound to this model
    eager_steps = type(model).steps.__get__(model)
    eager_initial_state = type(model).initial_state.__get__(model)

    def chunk(xs: Tensor, state):
        """``steps_per_graph`` steps: h [K, B, C], reads [K, B, H_read, M], the state after."""
        return run_steps(eager_step, xs, state)

    # Inductor's checks of the sizes and strides its extern kernels return, about a hundred
    # per call of a four-step graph, cost a tenth of a small batch's step; they are off.
    options = ({"options": {**torch._inductor.list_mode_options(mode), "size_asserts": False,
                            **(WRAPPERS[wrapper] if on_cpu else {})}}
               if backend == "inductor" else {})
    if on_cpu and backend == "inductor":
        start_prebuild(options["options"])
    # One step per graph compiles the step itself, the graph of the fast path before
    # train.compile_steps, so that runs made with it take the same paths again.
    unit = eager_step if steps_per_graph == 1 else chunk
    compiled = torch.compile(unit, backend=backend, dynamic=False, fullgraph=True, **options)
    cuda_graphs = mode == "reduce-overhead"
    # Where inductor builds its kernels but not the C++ wrapper, the Python one may do.
    other_wrapper = ("train.compile_wrapper=python may build where the C++ wrapper does not; "
                     if on_cpu and wrapper == "cpp" else "")

    def initial_state(batch_size: int, generator: torch.Generator | None = None):
        state = eager_initial_state(batch_size, generator)
        if not torch.is_grad_enabled():
            return state
        if cuda_graphs:  # a new sequence: the previous one's graph outputs may be reused
            torch.compiler.cudagraph_mark_step_begin()
        return _like_later_steps(state)

    def steps(inputs: Tensor, state):
        if steps.compiled is None or not torch.is_grad_enabled():
            return eager_steps(inputs, state)
        length = inputs.shape[0]
        padding = -length % steps_per_graph
        padded = inputs.contiguous() if not padding else torch.cat(  # chunks of one layout
            [inputs, inputs.new_zeros(padding, *inputs.shape[1:])])
        hs, reads, start = [], [], state
        try:
            for xs in padded.split(steps_per_graph):
                if steps_per_graph == 1:
                    h, state, _ = steps.compiled(xs[0], state)
                    h, r = h[None], state.memory.reads[None]
                else:
                    h, r, state = steps.compiled(xs, state)
                hs.append(h)
                reads.append(r)
        except Exception as error:  # inductor's C++ build (no Python.h, no OpenMP, ...)
            if not fall_back:
                raise
            steps.compiled = None
            while getattr(error, "inner_exception", None) is not None:  # dynamo's wrapping
                error = error.inner_exception
            first_line = (str(error).strip().splitlines() or [""])[0][:200]
            log.warning("train.compile=auto: compiling the step failed (%s: %s), so it runs "
                        "eagerly (%strain.compile=false skips the attempt).",
                        type(error).__name__, first_line, other_wrapper)
            return eager_steps(inputs, start)  # a fault of the model itself raises here again
        return torch.cat(hs)[:length], torch.cat(reads)[:length]

    steps.compiled = compiled  # None once a compile under auto has failed; read by tests
    model.initial_state, model.steps = initial_state, steps
    return mode


def cpp_compiler() -> str | None:
    """The C++ compiler inductor's CPU code generation would use, or None when there is none
    (then compiling would fail at the first step, so ``accelerate`` stays eager instead)."""
    try:
        from torch._inductor.cpp_builder import get_cpp_compiler
        return get_cpp_compiler()
    except Exception:  # InvalidCxxCompiler, or a torch without this (private) function
        return None


#: The script the child process of ``start_prebuild`` runs (it imports torch, not ``ntm``).
PREBUILD_SCRIPT = str(Path(__file__).with_name("prebuild.py"))
_prebuild: subprocess.Popen | None = None


def start_prebuild(options: dict) -> subprocess.Popen | None:
    """Starts, once per process, a child process that builds what inductor's first C++ build
    waits for while the first chunk is traced, and returns it (None where it could not start):
    inductor's probe of the CPU's vector instruction sets (on x86 a small C++ build per
    instruction set the CPU reports, each loaded by a process of its own), then its
    precompiled headers for a compile with inductor ``options`` (``ntm.models.prebuild``).

    Inductor runs the probe at its first kernel, after tracing, and builds the headers (about
    6-7 s of the compiler each here) on the training process's thread, one after the other;
    the child makes these builds on the other core, the headers side by side, and inductor
    then finds them in its on-disk cache (each build holds a file lock, so inductor waits for
    one in progress instead of making it again). The builds are the ones inductor would make,
    so nothing computed changes. A child process, not a thread: inductor's probe changes an
    instruction set's flags while it builds, which a second probe in the same process could
    catch half-changed. The child's faults are left to inductor's own builds to meet and report.
    No child starts where a finished one left its marker for these ``options``
    (``prebuild.done_marker``): everything it would build is built, and a child would only take
    a core from the start of training.
    """
    global _prebuild
    if _prebuild is None:
        try:
            if done_marker(options).exists():
                return None
        except Exception:  # inductor's private names moved: the child then does what it can
            pass
        try:
            _prebuild = subprocess.Popen(
                [sys.executable, PREBUILD_SCRIPT, json.dumps(options)],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        except OSError:
            return None
    return _prebuild


def _like_later_steps(state: tuple) -> tuple:
    """``state`` (nested tuples and named tuples of tensors) with contiguous tensors, those
    that do not require a gradient made leaves that do."""
    def like(t: Tensor) -> Tensor:
        t = t.contiguous()
        return t if t.requires_grad else t.detach().requires_grad_()

    fields = [_like_later_steps(f) if isinstance(f, tuple) else like(f) for f in state]
    return type(state)(*fields) if hasattr(state, "_fields") else tuple(fields)
