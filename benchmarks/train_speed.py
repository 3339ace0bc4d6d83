"""Training throughput of an NTM, eager against the fast step (``train.compile``).

    python benchmarks/train_speed.py [--batch-sizes 1 4 16 64 256] [--repeats 10]
                                     [--threads N] [--no-compile-times] [--compile-pairs N]
                                     [--time-to-solve]
                                     [-- overrides ...]

The model is the one ``python -m ntm.train [overrides]`` would train on copy: by default copy's
default, the feedforward NTM in 21 locations; ``-- controller=lstm memory.N=128`` times copy's
default before it (the paper's NTM-LSTM). Overrides come after ``--`` (or before every
option); only copy is timed (its lengths 1..20 and length-20 passes below).

Prints, in one run:

1. a table, one row per batch size: median training sequences per second of the eager model
   and of the fast one (``ntm.models.fast.accelerate`` with ``train.compile=true``), and the
   median of their ratios, repeat by repeat. A step is sampling (lengths 1..20 as in
   training), forward, backward, clipping and the optimizer as ``ntm.train`` takes it
   (``ntm.train.train_step``); a repeat is 64 sequences' worth of steps (one step from batch
   64 up), the same batches for both, timed once the child process that builds inductor's
   instruction-set probe and precompiled headers has ended. Eager and fast steps alternate in
   one process, so a machine whose speed drifts slows both alike; the first two repeats are
   dropped (the fast model compiles there), and on CUDA every length 1..20 is first trained
   twice (CUDA graphs are recorded per step position and length; the warm-up seconds go to
   stderr).
   ``--fast-mode reduce-overhead`` times CUDA graphs (``train.compile=cudagraphs``);
2. the median forward+backward milliseconds of one batch of length-20 sequences, eager and
   fast, per batch size;
3. the compile (warm-up) seconds of a first process with empty compile caches (inductor's,
   and its precompiled header under ``TMPDIR``) and of a second process with the caches the
   first left (both spawned from here): one training
   step at batch 64, compile included, then one evaluation batch of 500 (which runs the
   eager step: evaluation compiles nothing);
4. with ``--compile-pairs N``: the first process's seconds with inductor's instruction-set
   probe and precompiled headers built early in a child process (what ``accelerate`` does)
   and without, N processes each, alternating, each in fresh caches;
5. with ``--time-to-solve``: seconds to solve the copy run (``python -m ntm.train``, seed 0,
   with the overrides), eager against fast, the fast run with empty compile caches.
   Takes minutes.

For comparison, the public PyTorch NTM does 13.7 sequences/s at batch 1 and
87 at batch 32 on this 2-core machine, and 124 ms (batch 1) / 717 ms (batch 32) for one
forward+backward pass at length 20.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from hydra.errors import HydraException
from omegaconf import DictConfig
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ntm.experiment.build import build_model, build_optimizer, build_task  # noqa: E402
from ntm.experiment.command_line import check_command_line, compose_config  # noqa: E402
from ntm.experiment.config import ConfigError, validate  # noqa: E402
from ntm.experiment.metrics import training_loss  # noqa: E402
from ntm.experiment.step import train_step  # noqa: E402
from ntm.models import fast as fast_path  # noqa: E402
from ntm.models.fast import accelerate  # noqa: E402
from tasks import Task  # noqa: E402

CONF_DIR = ROOT / "conf"
#: Training sequences per repeat of a batch size (one step at batch 64 and above): a step at
#: batch 1 takes one random length of 1..20 and a few milliseconds, too noisy to time alone.
SEQUENCES_PER_REPEAT = 64


def _setup(overrides: list[str]) -> tuple[DictConfig, Task]:
    """The config ``python -m ntm.train overrides`` composes, checked as ``ntm.train`` checks
    it (``ConfigError`` in one sentence), and its task, which must be copy."""
    check_command_line(overrides, CONF_DIR)
    try:
        cfg = compose_config(overrides, CONF_DIR)
    except HydraException as e:
        raise ConfigError(str(e).splitlines()[0]) from None
    validate(cfg)
    if cfg.task.name != "copy":
        raise ConfigError(f"task is {cfg.task.name}; train_speed.py times copy only "
                          "(its lengths 1..20), so leave task at copy.")
    return cfg, build_task(cfg)


def describe(cfg: DictConfig) -> str:
    """One line: the model the table times."""
    if cfg.model.kind != "ntm":
        return f"{cfg.model.kind} model on {cfg.task.name}"
    return (f"NTM on {cfg.task.name}: {cfg.controller.kind} controller of {cfg.controller.size}, "
            f"{cfg.model.read_heads} read + {cfg.model.write_heads} write heads, memory "
            f"{cfg.memory.N} x {cfg.memory.M} ({cfg.memory.init})")


def _models(cfg: DictConfig, task: Task, device: torch.device,
            setting: str = "true") -> tuple[nn.Module, nn.Module]:
    torch.manual_seed(0)
    eager = build_model(cfg, task).to(device)
    fast = build_model(cfg, task).to(device)
    fast.load_state_dict(eager.state_dict())
    accelerate(fast, setting, device, steps_per_graph=cfg.train.compile_steps,
               wrapper=cfg.train.compile_wrapper)
    return eager, fast


def _step_settings(cfg: DictConfig) -> tuple:
    """``train_step``'s clipping and loss arguments as ``ntm.train`` passes them."""
    t = cfg.train
    return t.clip_grad_value, t.clip_grad_norm, t.loss


def _wait_for_the_prebuild() -> None:
    """Waits for the child process that ``accelerate`` started to build inductor's
    instruction-set probe and precompiled headers (``ntm.models.fast.start_prebuild``: a second
    Python importing torch, seconds of one core), so that it does not share the machine with
    the steps timed."""
    if fast_path._prebuild is not None:
        fast_path._prebuild.wait()


def throughput(cfg: DictConfig, task: Task, batch_sizes: list[int], repeats: int,
               device: torch.device, setting: str = "true") -> None:
    eager, fast = _models(cfg, task, device, setting)
    _wait_for_the_prebuild()
    optimizers = {m: build_optimizer(cfg, m.parameters()) for m in (eager, fast)}
    settings = _step_settings(cfg)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    generator = torch.Generator().manual_seed(0)
    rows = []
    for batch_size in batch_sizes:
        rates: dict[nn.Module, list[float]] = {eager: [], fast: []}
        passes: dict[nn.Module, list[float]] = {eager: [], fast: []}
        if device.type == "cuda":
            # CUDA graphs are recorded per step position (and the backward per length), on a
            # step's second call: every length twice, so that no recording is timed below.
            for model in (eager, fast):
                sync()
                start = time.perf_counter()
                for length in list(range(1, task.max_length + 1)) * 2:
                    batch = task.sample_batch(generator, batch_size, size=length).to(device)
                    train_step(model, optimizers[model], batch, *settings)
                sync()
                print(f"  batch {batch_size}: warm-up over every length, "
                      f"{'fast' if model is fast else 'eager'}: "
                      f"{time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)
        steps = max(1, SEQUENCES_PER_REPEAT // batch_size)
        for i in range(repeats + 2):  # two warm-up repeats are dropped
            seconds = {eager: 0.0, fast: 0.0}
            for _ in range(steps):
                batch = task.sample_batch(generator, batch_size).to(device)
                for model in (eager, fast):
                    sync()
                    start = time.perf_counter()
                    train_step(model, optimizers[model], batch, *settings)
                    sync()
                    seconds[model] += time.perf_counter() - start
            if i >= 2:
                for model in (eager, fast):
                    rates[model].append(steps * batch_size / seconds[model])
        fixed = task.sample_batch(generator, batch_size, size=20).to(device)
        for i in range(repeats + 2):
            for model in (eager, fast):
                sync()
                start = time.perf_counter()
                training_loss(model(fixed.inputs), fixed.targets, fixed.mask).backward()
                sync()
                if i >= 2:
                    passes[model].append(1000 * (time.perf_counter() - start))
        row = [batch_size, statistics.median(rates[eager]), statistics.median(rates[fast]),
               statistics.median(f / e for e, f in zip(rates[eager], rates[fast], strict=True)),
               statistics.median(passes[eager]), statistics.median(passes[fast])]
        rows.append(row)
        print(f"  measured batch {batch_size}", file=sys.stderr, flush=True)
    print(f"{'batch':>5} {'eager seq/s':>12} {'fast seq/s':>11} {'ratio':>6}")
    for b, e, f, ratio, _, _ in rows:
        print(f"{b:>5} {e:>12.1f} {f:>11.1f} {ratio:>6.2f}")
    print()
    print(f"{'batch':>5} {'eager fwd+bwd ms @ L=20':>24} {'fast fwd+bwd ms @ L=20':>23} "
          f"{'ratio':>6}")
    for b, _, _, _, e, f in rows:
        print(f"{b:>5} {e:>24.1f} {f:>23.1f} {e / f:>6.2f}")


def compile_probe(overrides: list[str]) -> None:
    """One training step at batch 64 with the fast step and one evaluation batch of 500 (the
    eager step under ``no_grad``), timed from the model's construction: prints the seconds
    as JSON."""
    device = torch.device("cpu")
    cfg, task = _setup(overrides)
    start = time.perf_counter()
    _, fast = _models(cfg, task, device)
    optimizer = build_optimizer(cfg, fast.parameters())
    generator = torch.Generator().manual_seed(0)
    train_step(fast, optimizer, task.sample_batch(generator, 64), *_step_settings(cfg))
    train_seconds = time.perf_counter() - start
    with torch.no_grad():
        fast.eval()
        fast(task.sample_batch(generator, 500).inputs)
    print(json.dumps({"train": train_seconds, "total": time.perf_counter() - start}))


def _fresh_caches(directory: str) -> dict[str, str]:
    """The environment of a process that compiles as on a machine that never compiled:
    inductor's cache, and its precompiled C++ header, which inductor keeps under the temporary
    directory (``/tmp/torchinductor_$USER/precompiled_headers``) whatever
    ``TORCHINDUCTOR_CACHE_DIR`` says, both in ``directory``."""
    return {**os.environ, "TORCHINDUCTOR_CACHE_DIR": directory, "TMPDIR": directory}


def _probe_seconds(env: dict[str, str], threads: int | None, overrides: list[str],
                   *flags: str) -> dict[str, float]:
    command = [sys.executable, __file__, "--compile-probe", *flags]
    if threads:
        command += ["--threads", str(threads)]
    command += ["--", *overrides]
    out = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def compile_times(overrides: list[str], threads: int | None) -> None:
    """Seconds of the compile probe in a first process with empty caches (``_fresh_caches``),
    then in a second one that finds what the first left."""
    with tempfile.TemporaryDirectory() as cache:
        env = _fresh_caches(cache)
        for name in ("first process (empty cache)", "second process (cached)"):
            seconds = _probe_seconds(env, threads, overrides)
            print(f"compile + first step, {name}: {seconds['total']:.1f} s "
                  f"(training step {seconds['train']:.1f} s, then the evaluation batch)")


def alternate_in_fresh_caches(variants: tuple[str, str], pairs: int,
                              measure: Callable[[str, dict[str, str]], float],
                              ) -> dict[str, list[float]]:
    """``measure(variant, env)`` for each of the two ``variants``, ``pairs`` times each, their
    order alternating pair by pair, each call with the environment of fresh caches
    (``_fresh_caches``) in a temporary directory of its own; the seconds per variant."""
    seconds: dict[str, list[float]] = {variant: [] for variant in variants}
    for i in range(pairs):
        for variant in variants if i % 2 == 0 else variants[::-1]:
            with tempfile.TemporaryDirectory() as cache:
                seconds[variant].append(measure(variant, _fresh_caches(cache)))
    return seconds


def compile_pairs(overrides: list[str], threads: int | None, pairs: int) -> None:
    """First-process compile seconds with inductor's instruction-set probe and precompiled
    headers built early in a child process (``ntm.models.fast.start_prebuild``, what
    ``accelerate`` does) and without it (inductor builds them at its first kernel and its first
    C++ build), ``pairs`` times each, alternating, each process in fresh caches; prints both
    medians and their ratio."""
    def measure(variant: str, env: dict[str, str]) -> float:
        flags = [] if variant == "with" else ["--no-prebuild"]
        return _probe_seconds(env, threads, overrides, *flags)["total"]

    seconds = alternate_in_fresh_caches(("with", "without"), pairs, measure)
    with_, without = (statistics.median(seconds[v]) for v in ("with", "without"))
    print(f"first process, {pairs} pairs alternating: the early prebuild "
          f"{with_:.1f} s ({', '.join(f'{x:.1f}' for x in seconds['with'])}), without it "
          f"{without:.1f} s ({', '.join(f'{x:.1f}' for x in seconds['without'])}): "
          f"{with_ / without:.2f}x")


def time_to_solve(overrides: list[str], threads: int | None, max_minutes: float | None,
                  fast_setting: str = "true") -> None:
    from time_to_solve import one_run  # benchmarks/time_to_solve.py, beside this script

    label = " ".join(["python -m ntm.train", *overrides])
    with tempfile.TemporaryDirectory() as tmp:
        env = _fresh_caches(tmp)
        for setting in ("false", fast_setting):
            run = [*overrides, f"train.compile={setting}", "train.pictures=false"]
            if threads:
                run.append(f"train.threads={threads}")
            if max_minutes:
                run.append(f"train.max_minutes={max_minutes}")
            result = one_run(0, run, Path(tmp) / f"copy_{setting}", env=env)
            if result["sequences"] is None:
                print(f"{label}, train.compile={setting}: not solved within the budget")
            else:
                print(f"{label}, train.compile={setting}: {result['process_seconds']:.0f} s from "
                      f"process start to the solve ({result['sequences']:,.0f} sequences)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 4, 16, 64, 256])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--no-compile-times", action="store_true",
                        help="skip the two spawned processes that time compilation")
    parser.add_argument("--time-to-solve", action="store_true",
                        help="also train the copy run eager and fast (minutes)")
    parser.add_argument("--solve-minutes", type=float, default=None,
                        help="a training budget for --time-to-solve (train.max_minutes)")
    parser.add_argument("--fast-mode", choices=["default", "reduce-overhead"], default=None,
                        help="the fast step's compile mode instead of train.compile=true's "
                             "(default: inductor's kernels; reduce-overhead: in CUDA graphs, "
                             "as train.compile=cudagraphs)")
    parser.add_argument("--compile-pairs", type=int, default=0, metavar="N",
                        help="also time N first processes with inductor's instruction-set probe "
                             "and precompiled headers built early and N without, alternating")
    parser.add_argument("--compile-probe", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--no-prebuild", action="store_true",
                        help=argparse.SUPPRESS)
    parser.add_argument("overrides", nargs="*",
                        help="Hydra overrides of the model and task timed, as for ntm.train "
                             "(default: copy's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.compile_probe:
        if args.no_prebuild:  # accelerate finds the module's name at call time
            fast_path.start_prebuild = lambda options: None
        compile_probe(args.overrides)
        return
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if args.fast_mode == "reduce-overhead" and device.type != "cuda":
        parser.error("--fast-mode reduce-overhead (CUDA graphs) needs a CUDA device.")
    print(f"torch {torch.__version__}, device {device}, threads {torch.get_num_threads()}"
          + (f", fast mode {args.fast_mode}" if args.fast_mode else ""))
    if device.type == "cuda":
        print(f"GPU: {torch.cuda.get_device_name()}")
    setting = "cudagraphs" if args.fast_mode == "reduce-overhead" else "true"
    try:
        cfg, task = _setup(args.overrides)
    except ConfigError as e:
        parser.error(str(e))
    print(describe(cfg))
    throughput(cfg, task, args.batch_sizes, args.repeats, device, setting)
    print()
    if not args.no_compile_times and device.type == "cpu":
        compile_times(args.overrides, args.threads)
    if args.compile_pairs and device.type == "cpu":
        compile_pairs(args.overrides, args.threads, args.compile_pairs)
    if args.time_to_solve:
        time_to_solve(args.overrides, args.threads, args.solve_minutes, setting)


if __name__ == "__main__":
    main()
