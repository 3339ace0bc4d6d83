"""The fast step (``ntm.models.fast``, ``train.compile``) against the eager reference.

Tolerances (float32): logits within ``atol=1e-5, rtol=1e-4``, gradients within ``atol=1e-5,
rtol=1e-3`` of the eager model's; the compiled kernels sum in another order, so bit equality
is not expected (measured differences: about 1e-7 for logits).

The inductor compile of even a tiny model takes seconds (tens without the on-disk cache), so
the default suite runs one inductor comparison, the recompile count (with dynamo's ``eager``
backend) and the settings; the whole matrix and a resumed run are marked ``slow``.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch
from conftest import TINY, assert_one_sentence, compose_config, torch_isolated

from ntm.experiment.config import ConfigError, validate
from ntm.experiment.metrics import training_loss
from ntm.experiment.step import train_step
from ntm.models.fast import accelerate, choose
from ntm.models.ntm import NTM, NTMConfig
from tasks import TASKS, make_task

pytestmark = pytest.mark.usefixtures("isolated_torch")

CPU = torch.device("cpu")
CUDA = torch.device("cuda")
LOGITS = {"atol": 1e-5, "rtol": 1e-4}
GRADS = {"atol": 1e-5, "rtol": 1e-3}


@pytest.fixture(autouse=True)
def _fresh_dynamo():
    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    yield
    torch._dynamo.reset()


def pair(task_name: str = "copy", backend: str = "inductor", device: torch.device = CPU,
         setting: str = "true", steps_per_graph: int = 4, wrapper: str = "cpp",
         **settings) -> tuple[NTM, NTM, object]:
    """An eager NTM and a fast one (``train.compile=setting``, ``steps_per_graph`` time steps
    per compiled graph, ``train.compile_wrapper=wrapper``) with the same parameters, tiny, for
    ``task_name``."""
    task = make_task(task_name)
    config = NTMConfig(task.input_width, task.output_width, **{
        "memory_locations": 8, "memory_width": 4, "controller_size": 8, **settings})
    torch.manual_seed(0)
    eager = NTM(config).to(device)
    with torch.no_grad():  # the learned initial state away from zero, so it is tested too
        for p in eager.parameters():
            p.add_(0.1 * torch.randn_like(p))
    fast = NTM(config).to(device)
    fast.load_state_dict(eager.state_dict())
    assert accelerate(fast, setting, device, backend=backend,
                      steps_per_graph=steps_per_graph, wrapper=wrapper) is not None
    return eager, fast, task


def assert_same(eager: NTM, fast: NTM, task, batch_size: int = 3,
                device: torch.device = CPU) -> None:
    """Same logits and gradients on a batch of ``task`` (random memory: the same draws)."""
    batch = task.sample_batch(torch.Generator().manual_seed(1), batch_size).to(device)
    results = []
    for model in (eager, fast):
        model.zero_grad(set_to_none=True)
        generator = torch.Generator(device=device).manual_seed(2)
        logits = model(batch.inputs, generator=generator)
        training_loss(logits, batch.targets, batch.mask).backward()
        results.append((logits.detach(), {n: p.grad for n, p in model.named_parameters()}))
    (eager_logits, eager_grads), (fast_logits, fast_grads) = results
    torch.testing.assert_close(fast_logits, eager_logits, **LOGITS)
    assert eager_grads.keys() == fast_grads.keys()
    for name, grad in eager_grads.items():
        torch.testing.assert_close(fast_grads[name], grad, **GRADS, msg=name)


def test_fast_matches_eager() -> None:
    """The default suite's inductor comparison: LSTM, one read and one write head, copy."""
    eager, fast, task = pair()
    assert_same(eager, fast, task)
    with torch.no_grad():  # the evaluation path (the eager step)
        batch = task.sample_batch(torch.Generator().manual_seed(3), 5)
        torch.testing.assert_close(fast(batch.inputs), eager(batch.inputs), **LOGITS)


CASES = [
    *({"controller": c, "read_heads": r, "write_heads": w}
      for c in ("lstm", "feedforward") for r, w in ((1, 1), (2, 1), (1, 2))),
    {"shift_radius": 2},
    {"shift_radius": 3, "controller_layers": 2},
    {"memory_init": "learned"},
    {"memory_init": "random"},
    {"memory_init": "random", "controller": "feedforward", "write_heads": 2},
    {"controller": "feedforward", "controller_layer_norm": True},
    {"controller_layer_norm": True, "controller_layers": 2},
    {"clip": None, "read_heads": 0},
    {"write_heads": 0},
]


@pytest.mark.slow
@pytest.mark.parametrize("settings", CASES, ids=lambda s: ",".join(f"{k}={v}" for k, v in
                                                                   s.items()))
def test_fast_matches_eager_for_every_model(settings) -> None:
    eager, fast, task = pair(**settings)
    assert_same(eager, fast, task)


@pytest.mark.slow
@pytest.mark.parametrize("task_name", sorted(TASKS))
def test_fast_matches_eager_for_every_task(task_name) -> None:
    eager, fast, task = pair(task_name)
    assert_same(eager, fast, task, batch_size=2)


@pytest.mark.parametrize("settings", [{}, {"memory_init": "random"}, {"memory_init": "learned"},
                                      {"initial_weighting": "learned"}, {"write_heads": 0}],
                         ids=lambda s: ",".join(f"{k}={v}" for k, v in s.items()) or "default")
@pytest.mark.parametrize("batch_size", [1, 4])
def test_one_graph_per_batch_size_for_every_length(settings, batch_size) -> None:
    """A training batch compiles one graph: the first step (its state built from constant
    biases, stride 0, without gradient) runs the graph of the later steps, and no length
    1..20 compiles again; logits and gradients match eager's (through AOT autograd, the
    inductor pipeline without its code generation). Evaluation (``no_grad``) runs the eager
    step and compiles nothing."""
    eager, fast, task = pair(backend="aot_eager", **settings)
    x = torch.rand(20, batch_size, task.input_width)
    fast(x).sum().backward()
    counters = torch._dynamo.utils.counters
    assert counters["stats"]["unique_graphs"] == 1
    for length in range(1, 21):
        fast(x[:length]).sum().backward()
        with torch.no_grad():
            logits = [model(x[:length], generator=torch.Generator().manual_seed(length))
                      for model in (fast, eager)]  # the same draws of a random memory
            torch.testing.assert_close(*logits, **LOGITS)
    assert counters["stats"]["unique_graphs"] == 1
    assert_same(eager, fast, task, batch_size=batch_size)
    assert counters["stats"]["unique_graphs"] == 1


@pytest.mark.parametrize("steps_per_graph", [1, 3, 8])
def test_any_steps_per_graph_matches_eager_with_one_graph(steps_per_graph) -> None:
    """``train.compile_steps``: a sequence runs as chunks of this many steps, padded at its
    end; every length 1..9 (shorter than a chunk, a whole number of chunks, and between)
    gives eager's logits and gradients from one graph."""
    eager, fast, task = pair(backend="aot_eager", steps_per_graph=steps_per_graph)
    compiled, calls = fast.steps.compiled, []

    def counted(xs, state):  # what each call of the compiled graph is given
        calls.append(xs.shape)
        return compiled(xs, state)

    fast.steps.compiled = counted
    generator = torch.Generator().manual_seed(5)
    for length in range(1, 10):
        x = torch.rand(length, 2, task.input_width, generator=generator)
        calls.clear()
        grads = []
        for model in (eager, fast):
            model.zero_grad(set_to_none=True)
            logits = model(x)
            (logits * torch.linspace(-1, 1, logits.numel()).view_as(logits)).sum().backward()
            grads.append((logits.detach(), [p.grad for p in model.parameters()]))
        (eager_logits, eager_grads), (fast_logits, fast_grads) = grads
        assert fast_logits.shape == (length, 2, task.output_width)
        chunk = (steps_per_graph, 2, task.input_width) if steps_per_graph > 1 else (
            2, task.input_width)  # one step per graph compiles the step: one x_t per call
        assert calls == [chunk] * -(-length // steps_per_graph)
        torch.testing.assert_close(fast_logits, eager_logits, **LOGITS)
        for mine, theirs in zip(fast_grads, eager_grads, strict=True):
            torch.testing.assert_close(mine, theirs, **GRADS)
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] == 1


@pytest.mark.parametrize(("argument", "value", "setting"), [
    *(("steps_per_graph", value, "train.compile_steps") for value in [0, -1, 65, 2.5, True, "4"]),
    *(("wrapper", value, "train.compile_wrapper") for value in ["c++", "CPP", "", None])])
def test_a_bad_accelerate_argument_is_one_sentence(argument, value, setting) -> None:
    model = NTM(NTMConfig(3, 2, memory_locations=8, memory_width=4, controller_size=8))
    with pytest.raises(ValueError) as error:
        accelerate(model, "true", CPU, **{argument: value})
    assert_one_sentence(str(error.value), setting)
    assert "steps" not in vars(model)


@pytest.mark.parametrize("override", ["train.compile_steps=0", "train.compile_steps=-2",
                                      "train.compile_steps=65", "train.compile_wrapper='c++'",
                                      "train.compile_wrapper=CPP", "train.compile_wrapper=''"])
def test_a_bad_steps_or_wrapper_setting_is_one_sentence(override) -> None:
    with pytest.raises(ConfigError) as error:
        validate(compose_config([override]))
    assert_one_sentence(str(error.value), override.split("=")[0])


@pytest.mark.parametrize("wrapper", ["cpp", "python"])
@pytest.mark.parametrize("device", [CPU, CUDA])
def test_the_wrapper_setting_reaches_inductor_on_the_cpu_only(monkeypatch, wrapper,
                                                                device) -> None:
    """``cpp`` asks inductor for its C++ wrapper, built apart from the kernels, with pooled
    buffers on a CPU; ``python`` and every CUDA compile leave all three at inductor's defaults
    (off)."""
    seen = {}

    def compile_(fn, **kwargs):
        seen.update(kwargs["options"])
        return fn

    monkeypatch.setattr(torch, "compile", compile_)
    monkeypatch.setattr("ntm.models.fast.start_prebuild", lambda options: None)
    monkeypatch.setattr("ntm.models.fast.cpp_compiler", lambda: "g++")  # any machine
    model = NTM(NTMConfig(3, 2, memory_locations=8, memory_width=4, controller_size=8))
    assert accelerate(model, "true", device, wrapper=wrapper) == "default"
    on = wrapper == "cpp" and device == CPU
    assert [seen.get(key, False) for key in
            ("cpp_wrapper", "cpp_wrapper_build_separate", "memory_planning")] == [on] * 3
    assert seen["size_asserts"] is False


@pytest.mark.slow
@pytest.mark.parametrize("settings", [{}, {"controller": "feedforward", "read_heads": 2},
                                      {"memory_init": "random", "shift_radius": 2}])
def test_the_two_wrappers_train_bit_for_bit_alike(settings) -> None:
    """Inductor's C++ and Python wrappers call the same kernels: three training steps of
    ``train.compile_wrapper=cpp`` and ``python`` leave the same logits and parameters, bit for
    bit (so a run's path does not depend on the setting)."""
    task = make_task("copy")
    models = {}
    for wrapper in ("cpp", "python"):
        _, models[wrapper], _ = pair(wrapper=wrapper, **settings)
    results = {}
    for wrapper, model in models.items():
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
        generator = torch.Generator().manual_seed(4)
        torch.manual_seed(5)  # the random memory's draws
        for _ in range(3):
            logits = train_step(model, optimizer, task.sample_batch(generator, 3),
                                clip_grad_norm=1.0).logits
        results[wrapper] = (logits, [p.detach().clone() for p in model.parameters()])
    assert torch.equal(results["cpp"][0], results["python"][0])
    for mine, theirs in zip(results["cpp"][1], results["python"][1], strict=True):
        assert torch.equal(mine, theirs)


def _broken_backend(graph, example_inputs):
    raise RuntimeError("fatal error: Python.h: No such file or directory")


def test_a_failed_compile_under_auto_runs_eagerly_with_one_warning(caplog) -> None:
    """``auto`` (the default) must not stop a run where inductor finds a compiler that cannot
    build its code: the step falls back to eager, once, and trains on; ``true`` raises."""
    eager, fast, task = pair()
    accelerate(fast, "auto", CPU, backend=_broken_backend)
    with caplog.at_level("WARNING", logger="ntm.train"):
        assert_same(eager, fast, task)
        assert_same(eager, fast, task, batch_size=2)
    assert fast.steps.compiled is None
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 1 and messages[0].startswith(
        "train.compile=auto: compiling the step failed (")
    assert "Python.h" in messages[0] and messages[0].endswith(
        "so it runs eagerly (train.compile_wrapper=python may build where the C++ wrapper does "
        "not; train.compile=false skips the attempt).")
    accelerate(fast, "true", CPU, backend=_broken_backend)
    with pytest.raises(Exception, match="Python.h"):
        fast(torch.rand(3, 2, task.input_width)).sum().backward()


def test_settings_choose_the_path() -> None:
    model = NTM(NTMConfig(3, 2, memory_locations=8, memory_width=4, controller_size=8))
    assert choose("false", CPU, model) is None and choose(False, CPU, model) is None
    assert choose("true", CPU, model) == choose(True, CPU, model) == "default"
    assert choose("auto", CPU, model) == "default"  # measured: see ntm.models.fast's docstring
    assert choose("true", CUDA, model) == "default"  # inductor's kernels, no CUDA graphs
    assert choose("cudagraphs", CUDA, model) == "reduce-overhead"
    assert choose("auto", CUDA, model) is None
    assert choose("auto", torch.device("mps"), model) is None  # compiled on the CPU only
    assert accelerate(model, "false", CPU) is None
    assert "steps" not in vars(model) and "initial_state" not in vars(model)
    assert choose("true", CPU, torch.nn.LSTM(2, 2)) is None  # no step to compile


def test_without_a_cpp_compiler_the_step_stays_eager_with_a_warning(monkeypatch, caplog) -> None:
    """Inductor's CPU code needs a C++ compiler; without one, ``true`` (the default of priority
    sort and N-grams) runs eagerly instead of failing at the first step."""
    import ntm.models.fast as fast

    found = fast.cpp_compiler()  # the real lookup: a compiler's name, or None where there is none
    assert found is None or isinstance(found, str) and found
    model = NTM(NTMConfig(3, 2, memory_locations=8, memory_width=4, controller_size=8))
    monkeypatch.setattr(fast, "cpp_compiler", lambda: None)
    with caplog.at_level("WARNING", logger="ntm.train"):
        assert accelerate(model, "true", CPU) is None
    assert "steps" not in vars(model) and "initial_state" not in vars(model)  # the class's own
    assert [r.getMessage() for r in caplog.records] == [
        "train.compile: inductor found no C++ compiler (set CXX or install g++), so the step "
        "runs eagerly."]
    caplog.clear()
    with caplog.at_level("WARNING", logger="ntm.train"):  # the default: eager, without a word
        assert accelerate(model, "auto", CPU) is None
    assert "steps" not in vars(model) and "initial_state" not in vars(model)
    assert not caplog.records


def test_the_prebuild_starts_with_inductor_on_the_cpu_only(monkeypatch) -> None:
    """``accelerate`` starts the child that builds inductor's instruction-set probe and
    precompiled headers early for inductor's CPU code, with the compile's own inductor options,
    and not for another backend, another device or an eager model."""
    import ntm.models.fast as fast

    if fast.cpp_compiler() is None:
        pytest.skip("no C++ compiler: accelerate stays eager before the prebuild")
    calls = []
    monkeypatch.setattr(fast, "start_prebuild", calls.append)
    model = NTM(NTMConfig(3, 2, memory_locations=8, memory_width=4, controller_size=8))
    assert accelerate(model, "true", CPU, backend="aot_eager") == "default"
    assert accelerate(model, "false", CPU) is None
    assert accelerate(model, "true", CUDA) == "default"  # Triton's kernels: no C++ headers
    assert calls == []
    assert accelerate(model, "true", CPU) == "default"
    assert accelerate(model, "true", CPU, wrapper="python") == "default"
    assert calls == [{"size_asserts": False, **fast.WRAPPERS["cpp"]}, {"size_asserts": False}]


def test_the_prebuild_is_one_child_process_per_process(monkeypatch, tmp_path) -> None:
    """The prebuild runs in a child process (inductor's probe is not safe to run twice at once
    in one process), the script run directly with the options as JSON, started once however
    many models are accelerated; a child that cannot start is no fault."""
    import json
    import subprocess
    import sys

    import ntm.models.fast as fast

    started = []

    class Child:
        def __init__(self, command, **kwargs) -> None:
            started.append(command)

    monkeypatch.setattr(fast, "_prebuild", None)
    monkeypatch.setattr(fast, "done_marker", lambda options: tmp_path / "never.done")
    monkeypatch.setattr(subprocess, "Popen", Child)
    first = fast.start_prebuild({"cpp_wrapper": True})
    assert fast.start_prebuild({"cpp_wrapper": False}) is first
    assert started == [[sys.executable, fast.PREBUILD_SCRIPT, json.dumps({"cpp_wrapper": True})]]

    def cannot(command, **kwargs):
        raise OSError("no processes left")

    monkeypatch.setattr(fast, "_prebuild", None)
    monkeypatch.setattr(subprocess, "Popen", cannot)
    assert fast.start_prebuild({}) is None


def test_no_prebuild_starts_where_a_finished_one_left_its_marker(monkeypatch, tmp_path) -> None:
    """A finished prebuild's marker (named for the options) means everything is built: no
    child then; another option's marker does not count."""
    import subprocess

    import ntm.models.fast as fast
    from ntm.models.prebuild import done_marker

    started = []
    monkeypatch.setattr(fast, "_prebuild", None)
    monkeypatch.setattr(subprocess, "Popen", lambda command, **kwargs: started.append(command))
    monkeypatch.setattr("torch._inductor.codecache._HEADER_DIR", str(tmp_path))
    options = {"size_asserts": False, **fast.WRAPPERS["cpp"]}
    assert done_marker(options) != done_marker({"size_asserts": False})
    assert done_marker(options).parent.parent == tmp_path
    done_marker(options).parent.mkdir()
    done_marker(options).touch()
    assert fast.start_prebuild(options) is None
    assert started == []
    fast.start_prebuild({"size_asserts": False})
    assert len(started) == 1

    def moved(options):
        raise AttributeError("module 'torch._inductor.codecache' has no attribute '_HEADER_DIR'")

    monkeypatch.setattr(fast, "_prebuild", None)
    monkeypatch.setattr(fast, "done_marker", moved)  # inductor's private names moved
    fast.start_prebuild(options)
    assert len(started) == 2


@pytest.mark.parametrize("wrapper", ["cpp", "python"])
def test_the_prebuild_builds_the_headers_inductor_asks_for(monkeypatch, wrapper) -> None:
    """``prebuild`` runs inductor's own precompiler on the headers, with the command lines, that
    a compile with the options asks for (recorded from a tiny compile, which stops at its first
    C++ build), each on a thread, and leaves inductor's functions as they were."""
    import threading

    from torch._inductor import codecache, cpp_builder

    import ntm.models.fast as fast
    from ntm.models.prebuild import build_then_rename, prebuild

    if fast.cpp_compiler() is None:
        pytest.skip("no C++ compiler: accelerate never starts the prebuild")
    built, build = [], cpp_builder.CppBuilder.build
    worker = codecache._worker_compile_cpp

    def precompile(header, command_line, **command):
        built.append((header, threading.current_thread() is not threading.main_thread(),
                      command_line.split()[0],
                      codecache._worker_compile_cpp is build_then_rename))  # what it builds by
        return "built.h"

    monkeypatch.setattr(codecache, "_precompile_header", precompile)
    options = {"size_asserts": False, **fast.WRAPPERS[wrapper]}
    headers = prebuild(options)
    prefix = "torch/csrc/inductor/cpp_prefix.h"
    assert headers == (["torch/csrc/inductor/cpp_wrapper/cpu.h", prefix] if wrapper == "cpp"
                       else [prefix])
    compiler = fast.cpp_compiler()
    assert sorted(built) == sorted((header, True, compiler, True) for header in headers)
    assert codecache._precompile_header is precompile
    assert cpp_builder.CppBuilder.build is build
    assert codecache._worker_compile_cpp is worker
    # The stopped compile left no C++ library cached as built (dynamo's own cache of the tiny
    # function, which a compile finished from inductor's on-disk cache leaves, is reset).
    torch._dynamo.reset()
    assert prebuild(options) == headers


def test_a_prebuild_whose_header_fails_raises_after_the_others(monkeypatch) -> None:
    """A header build that fails is raised (the child then writes no marker), once the other
    builds have finished."""
    from torch._inductor import codecache

    import ntm.models.fast as fast
    from ntm.models.prebuild import prebuild

    if fast.cpp_compiler() is None:
        pytest.skip("no C++ compiler: accelerate never starts the prebuild")
    built = []

    def precompile(header, command_line, **command):
        if header.endswith("cpp_prefix.h"):
            raise RuntimeError("the compiler failed")
        built.append(header)
        return "built.h"

    monkeypatch.setattr(codecache, "_precompile_header", precompile)
    with pytest.raises(RuntimeError, match="the compiler failed"):
        prebuild({"size_asserts": False, **fast.WRAPPERS["cpp"]})
    assert built == ["torch/csrc/inductor/cpp_wrapper/cpu.h"]


class _FakeBuilder:
    """The parts of inductor's ``CppBuilder`` that ``build_then_rename`` uses: a target file and
    a command line ending in ``-o <target>``; ``build`` writes where that command line says,
    or writes half and dies (a build killed midway)."""

    def __init__(self, target: Path, dies: bool = False) -> None:
        self.target, self.dies, self.built_at = str(target), dies, []
        self._output = f"-o {target}"

    def get_target_file_path(self) -> str:
        return self.target

    def build(self) -> None:
        path = self._output.split(" ", 1)[1]
        self.built_at.append(path)
        Path(path).write_text("half" if self.dies else "whole")
        if self.dies:
            raise KeyboardInterrupt


def test_the_prebuild_writes_each_header_whole_or_not_at_all(tmp_path) -> None:
    """``build_then_rename`` builds under a temporary name and renames the file once built; a
    build that dies leaves no file at the name inductor looks for (so inductor builds it
    again), one that exists is not built, partial files left behind are removed, and the
    builder's output argument is put back."""
    from ntm.models.prebuild import build_then_rename

    lock = str(tmp_path / "h.lock")
    whole = _FakeBuilder(tmp_path / "a.h.gch")
    build_then_rename(lock, [whole])
    assert (tmp_path / "a.h.gch").read_text() == "whole"
    assert whole.built_at == [f"{tmp_path / 'a.h.gch'}.partial"]
    assert whole._output == f"-o {tmp_path / 'a.h.gch'}"
    assert not (tmp_path / "a.h.gch.partial").exists()

    dying = _FakeBuilder(tmp_path / "b.h.gch", dies=True)
    with pytest.raises(KeyboardInterrupt):
        build_then_rename(lock, [dying])
    assert not (tmp_path / "b.h.gch").exists()
    assert not (tmp_path / "b.h.gch.partial").exists()  # a failed build's half is removed
    (tmp_path / "b.h.gch.partial").write_text("half")  # as kill -9 leaves it
    again = _FakeBuilder(tmp_path / "b.h.gch")
    build_then_rename(lock, [again])  # the next child builds it, over the partial file
    assert (tmp_path / "b.h.gch").read_text() == "whole"
    assert not (tmp_path / "b.h.gch.partial").exists()  # built over, then renamed

    there = _FakeBuilder(tmp_path / "a.h.gch")
    (tmp_path / "a.h.gch.partial").write_text("half")  # a killed child's, then built in place
    build_then_rename(lock, [there])
    assert there.built_at == []
    assert not (tmp_path / "a.h.gch.partial").exists()

    moved = _FakeBuilder(tmp_path / "c.h.gch")  # inductor's command line changed its form
    moved._output = f"--output={tmp_path / 'c.h.gch'}"
    moved.build = lambda: (tmp_path / "c.h.gch").write_text("in place")
    build_then_rename(lock, [moved])
    assert (tmp_path / "c.h.gch").read_text() == "in place"


@pytest.mark.slow
def test_the_prebuilt_headers_are_the_ones_inductor_uses(tmp_path) -> None:
    """In empty caches, the prebuild child's precompiled headers are those a compile with the
    same options then uses: it finds every header built and builds none of its own (so the
    command lines match inductor's to the byte, and nothing compiled differs)."""
    import json
    import math
    import os
    import subprocess
    import sys

    import ntm.models.fast as fast

    if fast.cpp_compiler() is None:
        pytest.skip("no C++ compiler: accelerate never starts the prebuild")
    env = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": str(tmp_path), "TMPDIR": str(tmp_path)}
    options = {"size_asserts": False, **fast.WRAPPERS["cpp"]}
    done = subprocess.run([sys.executable, fast.PREBUILD_SCRIPT, json.dumps(options)], env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    headers = sorted(p.name for p in tmp_path.rglob("*.gch"))
    assert len(headers) == 2
    assert not list(tmp_path.rglob("*.partial"))  # each written whole, then renamed
    assert [p.parent.name for p in tmp_path.rglob("*.done")] == ["ntm_prebuild"]
    compile_ = (f"import torch; f = torch.compile(lambda x: (x * 3).cos() - x, dynamic=False, "
                f"options={options!r}); print(f(torch.ones(8, requires_grad=True)).sum().item())")
    done = subprocess.run([sys.executable, "-c", compile_], env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert float(done.stdout.split()[-1]) == pytest.approx(8 * (math.cos(3) - 1))
    assert sorted(p.name for p in tmp_path.rglob("*.gch")) == headers


@pytest.mark.parametrize("task", sorted(TASKS))
def test_every_task_compiles_on_the_cpu_by_default(task) -> None:
    """``true`` for priority sort and N-grams (compiled on CUDA too), ``auto`` for the rest
    (compiled on the CPU only)."""
    model = NTM(NTMConfig(3, 2, memory_locations=8, memory_width=4, controller_size=8))
    setting = compose_config([f"task={task}"]).train.compile
    assert choose(setting, CPU, model) == "default"
    on_cuda = choose(setting, CUDA, model)
    assert on_cuda == ("default" if task in ("priority_sort", "dynamic_ngrams") else None)


@pytest.mark.parametrize("value", ["fast", "yes", "1", "inductor"])
def test_bad_compile_setting_is_one_sentence(value) -> None:
    with pytest.raises(ConfigError) as error:
        validate(compose_config([f"train.compile={value}"]))
    assert_one_sentence(str(error.value), "train.compile")
    assert "auto, true, false, cudagraphs" in str(error.value)
    with pytest.raises(ValueError) as error:
        choose(value, CPU, None)
    assert_one_sentence(str(error.value), "train.compile")


@pytest.mark.parametrize("value", ["auto", "true", "false", "True", "FALSE"])
def test_good_compile_settings_validate(value) -> None:
    validate(compose_config([f"train.compile={value}"]))


@pytest.mark.parametrize("device", ["cpu", "auto"])
def test_cuda_graphs_without_cuda_are_one_sentence(monkeypatch, device) -> None:
    model = NTM(NTMConfig(3, 2, memory_locations=8, memory_width=4, controller_size=8))
    with pytest.raises(ValueError) as error:
        choose("cudagraphs", CPU, model)
    assert_one_sentence(str(error.value), "train.compile")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError) as error:
        validate(compose_config(["train.compile=cudagraphs", f"device={device}"]))
    assert_one_sentence(str(error.value), "train.compile")


def test_cuda_graphs_validate_where_cuda_is(monkeypatch, caplog) -> None:
    """With CUDA (faked: nothing runs), ``cudagraphs`` validates on ``auto`` and ``cuda`` and is
    chosen without a warning (the training faults once suspected were copy's own collapses,
    docs/training.md); the CPU chosen by hand is refused."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    for device in ("auto", "cuda"):
        validate(compose_config(["train.compile=cudagraphs", f"device={device}"]))
    with pytest.raises(ConfigError):  # the CPU chosen by hand, with a GPU there
        validate(compose_config(["train.compile=cudagraphs", "device=cpu"]))
    model = NTM(NTMConfig(3, 2, memory_locations=8, memory_width=4, controller_size=8))
    with caplog.at_level("WARNING", logger="ntm.train"):
        assert accelerate(model, "cudagraphs", CUDA, backend="aot_eager") == "reduce-overhead"
    assert caplog.records == []


def _rows(run_dir: Path) -> list[dict[str, str]]:
    with open(run_dir / "metrics.csv", newline="") as f:
        return [{k: v for k, v in row.items() if k not in ("wall_seconds",
                                                           "sequences_per_second")}
                for row in csv.DictReader(f)]


@pytest.mark.slow
def test_a_fast_run_resumes_from_its_checkpoint(tmp_path) -> None:
    """Six steps, then resumed to twelve, with the fast step on: the same rows and the same
    parameters as twelve steps at once (the compiled step changes no state-dict key)."""
    from ntm.train import train

    def tiny(steps: int):
        return compose_config([*TINY, "train.eval_every=3", f"train.max_sequences={steps * 4}",
                               "train.compile=true"])

    with torch_isolated():
        train(tiny(12), tmp_path / "whole")
        first = train(tiny(6), tmp_path / "resumed")
        assert first.step == 6
        train(tiny(12), tmp_path / "resumed")
    assert _rows(tmp_path / "resumed") == _rows(tmp_path / "whole")
    whole = torch.load(tmp_path / "whole" / "checkpoint.pt", weights_only=False)["model"]
    resumed = torch.load(tmp_path / "resumed" / "checkpoint.pt", weights_only=False)["model"]
    assert whole.keys() == resumed.keys()
    for key in whole:
        assert torch.equal(whole[key], resumed[key]), key


@pytest.mark.gpu
@pytest.mark.parametrize("controller", ["lstm", "feedforward"])
def test_cuda_graphs_match_eager(controller) -> None:
    """CUDA graphs (``mode="reduce-overhead"``) against eager on the GPU; float32 on CUDA
    may use TF32 in matrix products, hence the same loose tolerances."""
    device = torch.device("cuda")
    eager, fast, task = pair(device=device, setting="cudagraphs", controller=controller)
    for _ in range(3):  # warm-up, recording, replay
        assert_same(eager, fast, task, device=device)


@pytest.mark.gpu
@pytest.mark.parametrize("setting", ["cudagraphs", "true"])
@pytest.mark.parametrize("controller", ["lstm", "feedforward"])
def test_cuda_training_steps_match_eager(setting, controller) -> None:
    """Six training steps (SGD) on the GPU, lengths 4 and 6 in turn, so that each length's
    CUDA graphs are run as warm-up, recorded and then replayed: the fast model's logits,
    clipped gradients and updated parameters stay with the eager model's at every step."""
    device = torch.device("cuda")
    eager, fast, task = pair(device=device, setting=setting, controller=controller)
    optimizers = {m: torch.optim.SGD(m.parameters(), lr=0.1) for m in (eager, fast)}
    generator = torch.Generator().manual_seed(4)
    worst = {}  # the largest gap of each step, by (step, length)
    for i, length in enumerate([4, 6] * 3):
        batch = task.sample_batch(generator, 3, size=length).to(device)
        results = {}
        for model in (eager, fast):
            logits = train_step(model, optimizers[model], batch, clip_grad_norm=1.0).logits
            results[model] = (logits, dict(model.named_parameters()))
        (eager_logits, eager_params), (fast_logits, fast_params) = results.values()
        gaps = [(fast_logits - eager_logits).abs().max().item()]
        for name, p in eager_params.items():
            gaps.append((fast_params[name].grad - p.grad).abs().max().item())
            gaps.append((fast_params[name] - p).abs().max().item())
        worst[i, length] = max(gaps)
    assert max(worst.values()) < 1e-4, "; ".join(
        f"step {i} (length {length}): {gap:.2e}" for (i, length), gap in worst.items())
