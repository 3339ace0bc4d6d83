"""The study scripts of ``benchmarks/`` (docs/training.md's tables): every run they would start
composes and passes validation, so a change of a default or a setting cannot leave a cell that
fails at its first line. The scripts run against a stub ``python`` that records its arguments,
in a scratch copy of ``benchmarks/``, so nothing is trained or written in the repository."""

from __future__ import annotations

import importlib.util
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import TINY, compose_config, torch_isolated
from hydra.core.override_parser.overrides_parser import OverridesParser

from ntm.experiment.config import validate

ROOT = Path(__file__).resolve().parents[1]
STUB = """#!/usr/bin/env bash
# Stands in for python: one line per call, the arguments separated by a unit separator.
( IFS=$'\\x1f'; echo "$*" ) >> "$STUDY_CALLS"
"""


def recorded_calls(tmp_path: Path, script: str, *arguments: str) -> list[list[str]]:
    """Runs ``benchmarks/<script> <arguments>`` with the stub ``python``; its calls' arguments."""
    shutil.copytree(ROOT / "benchmarks", tmp_path / "benchmarks")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stub = bin_dir / "python"
    stub.write_text(STUB)
    stub.chmod(stub.stat().st_mode | stat.S_IXUSR)
    calls = tmp_path / "calls.txt"
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
           "STUDY_CALLS": str(calls), "JOBS": "1"}
    subprocess.run(["bash", str(tmp_path / "benchmarks" / script), *arguments], env=env,
                   check=True, capture_output=True, text=True, timeout=120)
    return [line.split("\x1f") for line in calls.read_text().splitlines()]


def training_runs(calls: list[list[str]]) -> list[list[str]]:
    """The overrides of every ``python -m ntm.train`` call, one list per run of its sweep's
    first point (a sweep's first value of each swept setting); Hydra's own settings dropped."""
    parser = OverridesParser.create()
    runs = []
    for call in calls:
        if call[:2] != ["-m", "ntm.train"]:
            continue
        overrides = []
        for item in call[2:]:
            if item.startswith("-") or item.startswith("hydra"):
                continue
            (override,) = parser.parse_overrides([item])
            if override.is_sweep_override():
                first = next(iter(override.sweep_string_iterator()))
                item = f"{override.get_key_element()}={first}"
            overrides.append(item)
        runs.append(overrides)
    return runs


STUDIES = [("recipe_study.sh",), ("task_study.sh",), ("attention_comparison.sh", "copy"),
           ("attention_comparison.sh", "associative_recall")]


@pytest.mark.parametrize("study", STUDIES, ids=" ".join)
def test_every_run_of_a_study_composes_and_validates(tmp_path, study) -> None:
    runs = training_runs(recorded_calls(tmp_path, *study))
    assert len(runs) >= 4, f"{study} started only {len(runs)} training sweeps"
    for overrides in runs:
        try:
            validate(compose_config(overrides))
        except Exception as error:  # the cell and the error together, for the failure message
            raise AssertionError(f"{' '.join(overrides)}: {error}") from error


def test_a_cell_named_exactly_runs_alone_and_a_star_runs_a_prefix(tmp_path) -> None:
    """``ps_b16_h5`` is also the start of four other cells' names."""
    alone = recorded_calls(tmp_path / "exact", "task_study.sh", "ps_b16_h5")
    prefix = recorded_calls(tmp_path / "prefix", "task_study.sh", "ps_b16_h5*")
    sweep_dirs = [[a for a in call if a.startswith("hydra.sweep.dir=")] for call in alone
                  if call[:2] == ["-m", "ntm.train"]]
    assert sweep_dirs == [["hydra.sweep.dir=runs/study/ps_b16_h5"]]
    assert len([call for call in prefix if call[:2] == ["-m", "ntm.train"]]) >= 5


@pytest.mark.slow  # two training processes, about 12 s
def test_time_to_solve_runs_two_settings_side_by_side_and_keeps_their_runs(tmp_path) -> None:
    """``benchmarks/time_to_solve.py --against``: each seed trains both settings (tiny runs
    that solve at their first evaluation), the table and medians name both, the run directories
    stay under ``--keep`` as A/ and B/, and a second call into the same folder is refused
    rather than resuming those runs."""
    tiny = [o for o in TINY if not o.startswith("train.solved_bit_errors")]
    command = [sys.executable, str(ROOT / "benchmarks" / "time_to_solve.py"), "--seeds", "0",
               "--keep", str(tmp_path / "keep"), "--against", "train.eval_every=1", *tiny,
               "train.solved_bit_errors=1000", "train.eval_every=2"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    rows = [line.split() for line in lines if line.startswith("   0  ")]
    assert [(row[1], row[2]) for row in rows] == [("A", "8"), ("B", "4")]  # A first at seed 0
    assert any(line.startswith("A: solved 1 of 1; median over the solved: 8 sequences")
               for line in lines)
    assert any(line.startswith("B: solved 1 of 1; median over the solved: 4 sequences")
               for line in lines)
    assert any(line.startswith("A / B seconds from process start") for line in lines)
    for arm, sequences in (("A", "8"), ("B", "4")):
        metrics = (tmp_path / "keep" / arm / "seed0" / "metrics.csv").read_text().splitlines()
        assert metrics[-1].split(",")[1] == sequences
    again = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert again.returncode == 2 and "already holds A/seed0; choose an empty folder" in again.stderr


def _benchmark(name: str):
    """``benchmarks/<name>.py`` as a module."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _step_check():
    return _benchmark("step_check")


def test_step_check_finds_eager_equal_to_itself(capsys) -> None:
    """``benchmarks/step_check.py`` on the eager step: every gap is 0, the parameters are the
    ones each step left, it exits 0, and ``ntm.experiment.loop`` is left as it was."""
    import ntm.experiment.loop as loop

    before = loop.train_step, loop._evaluate
    with torch_isolated():
        assert _step_check().main([*TINY, "train.max_sequences=24", "train.eval_every=3",
                                   "--every", "1"]) == 0
    assert (loop.train_step, loop._evaluate) == before
    out = capsys.readouterr().out
    assert "6 steps: gradient gap median 0.00e+00" in out
    assert "max 0.00e+00" in out and "changed outside the optimizer: 0" in out
    assert "[after evaluation:" in out


def test_step_check_sees_a_wrong_step_and_a_write_during_it() -> None:
    """The eager copy is the class's step even where the run's is compiled (``aot_eager``: the
    gap is rounding); a step that is not the model's (its output scaled) shows as a gradient
    gap, a parameter written during the step or between steps is counted, and the run fails."""
    from ntm.experiment.build import build_model, build_optimizer, build_task
    from ntm.models.fast import accelerate

    cfg = compose_config([*TINY])
    with torch_isolated():
        torch.manual_seed(0)
        task = build_task(cfg)
        model = build_model(cfg, task)
        optimizer = build_optimizer(cfg, model.parameters())
        batch = task.sample_batch(torch.Generator().manual_seed(1), 4)
        accelerate(model, "true", torch.device("cpu"), backend="aot_eager")
        checker = _step_check().Checker(show=1.0, every=1000)
        checker(model, optimizer, batch)
        assert checker.gaps[0] < 1e-5 and checker.moved == 0 and not checker.failed(0.5)
        assert "steps" not in checker.reference.__dict__
        compiled_steps, first = model.steps, next(model.parameters())

        def wrong_steps(inputs, state):
            with torch.no_grad():
                first.add_(1e-3)  # a write the step should never make
            hs, reads = compiled_steps(inputs, state)
            return 1.1 * hs, reads

        model.steps = wrong_steps
        checker(model, optimizer, batch)
        assert checker.moved == 1 and checker.gaps[1] > 1e-2
        model.steps = compiled_steps
        with torch.no_grad():
            first.add_(1e-3)  # between two steps
        checker(model, optimizer, batch)
    assert checker.moved == 2
    assert checker.failed(0.5)


def test_step_check_exits_1_on_a_wrong_step(monkeypatch, capsys) -> None:
    """``main`` returns 1 when the run's step is not the model's."""
    import ntm.experiment.loop as loop

    def wrong(model, setting, device, steps_per_graph=4, wrapper="cpp"):
        eager_steps = model.steps

        def steps(inputs, state):
            hs, reads = eager_steps(inputs, state)
            return 2.0 * hs, reads

        model.steps = steps
        return "default"

    monkeypatch.setattr(loop, "accelerate", wrong)
    with torch_isolated():
        assert _step_check().main([*TINY, "train.max_sequences=8"]) == 1
    assert "2 steps:" in capsys.readouterr().out


def test_train_speed_times_the_model_ntm_train_would_build() -> None:
    """``benchmarks/train_speed.py`` builds what ``python -m ntm.train <overrides>`` would:
    copy's default (the feedforward NTM in 21 locations) with none, the paper's NTM-LSTM in
    128 with ``controller=lstm memory.N=128``."""
    train_speed = _benchmark("train_speed")
    cfg, task = train_speed._setup([])
    assert train_speed.describe(cfg) == ("NTM on copy: feedforward controller of 100, 1 read + 1 "
                                         "write heads, memory 21 x 20 (constant)")
    cfg, task = train_speed._setup(["controller=lstm", "memory.N=128"])
    assert "lstm controller of 100" in train_speed.describe(cfg)
    with torch_isolated():
        eager, fast = train_speed._models(cfg, task, torch.device("cpu"), setting="false")
    assert (eager.config.controller, eager.config.memory_locations) == ("lstm", 128)
    assert fast is not eager and fast.config == eager.config


@pytest.mark.parametrize("overrides, message", [
    (["memory.N=12"], "memory.N is 12; copy needs more locations than task.max_length = 20 "
                      "(one per vector), so set memory.N to at least 21."),
    (["trian.batch_size=3"], "trian.batch_size"),
    (["task=associative_recall"], "task is associative_recall; train_speed.py times copy only"),
])
def test_train_speed_refuses_a_bad_override_in_one_line(overrides, message) -> None:
    """A setting ``ntm.train`` refuses, a mistyped one and another task are refused before
    anything is timed, in one line and without a traceback."""
    command = [sys.executable, str(ROOT / "benchmarks" / "train_speed.py"), "--batch-sizes",
               "1", "--no-compile-times", "--", *overrides]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert message in done.stderr.splitlines()[-1]
    assert "batch" not in done.stdout


def test_train_speed_compile_pairs_alternate_in_fresh_caches(monkeypatch, capsys) -> None:
    """``--compile-pairs``: with and without the early prebuild, alternating,
    each process in its own empty inductor cache and temporary directory."""
    train_speed = _benchmark("train_speed")
    calls = []

    def fake_run(command, env, **kwargs):
        calls.append((command, env["TORCHINDUCTOR_CACHE_DIR"], env["TMPDIR"]))
        total = 3.0 if "--no-prebuild" in command else 2.0
        stdout = f'{{"train": 1.0, "total": {total}}}\n'
        return subprocess.CompletedProcess(command, 0, stdout=stdout)

    monkeypatch.setattr(train_speed.subprocess, "run", fake_run)
    train_speed.compile_pairs(["memory.N=22"], threads=None, pairs=2)
    without = ["--no-prebuild" in command for command, _, _ in calls]
    assert without == [False, True, True, False]
    assert all(command[-2:] == ["--", "memory.N=22"] for command, _, _ in calls)
    assert all(cache == tmp for _, cache, tmp in calls)
    assert len({cache for _, cache, _ in calls}) == 4
    out = capsys.readouterr().out
    assert "prebuild 2.0 s (2.0, 2.0), without it 3.0 s (3.0, 3.0): 0.67x" in out


def test_train_speed_hands_its_overrides_to_the_compile_probe(monkeypatch, capsys) -> None:
    """The two compile-timing processes run the probe on the same model: the overrides follow
    ``--`` on their command line, after the thread count."""
    train_speed = _benchmark("train_speed")
    calls = []

    def fake_run(command, **kwargs):
        calls.append(command)
        return subprocess.CompletedProcess(command, 0, stdout='{"train": 1.0, "total": 2.0}\n')

    monkeypatch.setattr(train_speed.subprocess, "run", fake_run)
    train_speed.compile_times(["controller=lstm", "memory.N=128"], threads=1)
    assert len(calls) == 2
    for command in calls:
        assert command[-6:] == ["--compile-probe", "--threads", "1", "--", "controller=lstm",
                                "memory.N=128"]
    assert "first process (empty cache): 2.0 s" in capsys.readouterr().out


def test_plateau_counts_the_wrong_sequences_and_reads_the_write_head(tmp_path_factory,
                                                                     monkeypatch, capsys) -> None:
    """``benchmarks/plateau.py`` on a tiny copy run: the sequences it counts as wrong are those
    the run's model gets wrong on the same batch, its gate column is the write head's g over
    the input steps of the right and of the wrong ones, and a run of another model is refused
    in one line."""
    from conftest import trained_run

    from ntm.results.runs import load_run

    plateau = _benchmark("plateau")
    run = trained_run(tmp_path_factory, "plateau")
    monkeypatch.setattr(sys, "argv", ["plateau.py", str(run), "--size", "3", "--sequences", "40"])
    plateau.main()
    out = capsys.readouterr().out
    _, task, model = load_run(run)[:3]
    batch = task.sample_batch(torch.Generator().manual_seed(5), 40, size=3)
    with torch.no_grad():
        logits = model.eval()(batch.inputs)
        state, gates = model.initial_state(40), []
        for x in batch.inputs[:3].unbind(0):  # the three steps that write the vectors
            _, state, p = model.step(x, state)
            gates.append(p.gate[:, model.config.read_heads])  # the write head's g
    wrong = (((logits > 0).float() != batch.targets).float() * batch.mask).sum((0, 2)) > 0
    assert f"sequences with a wrong bit {int(wrong.sum())} (" in out
    gate_line = next(line for line in out.splitlines() if line.strip().startswith("gate g"))
    gates = torch.stack(gates)  # [3, 40]
    expected = [f"{gates[:, rows].mean():.3f}" if rows.any() else "nan"
                for rows in (~wrong, wrong)]
    assert gate_line.split()[-2:] == expected
    for name in ("key strength beta", "sharpening gamma"):
        assert any(line.strip().startswith(name) for line in out.splitlines()), name
    baseline = trained_run(tmp_path_factory, "plateau_lstm", "model=lstm", "model.size=8",
                           "model.layers=1")
    monkeypatch.setattr(sys, "argv", ["plateau.py", str(baseline)])
    with pytest.raises(SystemExit, match="trained lstm on copy; this script reads an NTM trained "
                                         "on copy"):
        plateau.main()


def test_recall_lookup_counts_the_wrong_sequences_and_reads_every_read_head(
        tmp_path_factory, monkeypatch, capsys) -> None:
    """``benchmarks/recall_lookup.py`` on a tiny recall run of two read heads: its share of
    wrong sequences is that of the run's model on the same batch, each read head's largest
    weights and key strengths from the query delimiter (found in the batch's own channel) to
    the end are those of the traced and stepped model, the write head's largest weight is that
    over the item vectors' steps, and a copy run is refused in one line."""
    from conftest import TINY, compose_config, torch_isolated, trained_run

    from ntm.experiment.loop import train
    from ntm.results.runs import load_run

    lookup = _benchmark("recall_lookup")
    run = tmp_path_factory.mktemp("recall_lookup")
    settings = [s for s in TINY if not s.startswith("task.")]  # TINY's lengths are copy's
    with torch_isolated():
        train(compose_config([*settings, "task=associative_recall", "task.max_items=3",
                              "memory.N=16", "model.read_heads=2", "train.eval_every=2",
                              "train.max_sequences=16"]), run)
    monkeypatch.setattr(sys, "argv", ["recall_lookup.py", str(run), "--sizes", "4",
                                      "--sequences", "30"])
    lookup.main()
    out = capsys.readouterr().out
    _, task, model = load_run(run)[:3]
    batch = task.sample_batch(torch.Generator().manual_seed(7 + 4), 30, size=4)
    with torch.no_grad():
        logits, trace = model.eval()(batch.inputs, trace=True)
        state, strengths = model.initial_state(30), []
        for x in batch.inputs.unbind(0):
            _, state, p = model.step(x, state)
            strengths.append(p.key_strength)
    wrong = (((logits > 0).float() != batch.targets).float() * batch.mask).sum((0, 2)) > 0
    assert f"4 items: sequences with a wrong bit {wrong.float().mean():.1%}," in out
    # the query delimiter: the first step with its channel (width + 1) set, read off the batch
    first = int(batch.inputs[:, 0, task.width + 1].nonzero()[0])
    lines = out.splitlines()
    for h in range(2):
        at = next(i for i, line in enumerate(lines)
                  if line.strip().startswith(f"read head {h + 1}, query delimiter"))
        weights = lines[at].split("largest weight ")[1].split()
        expected = trace.read_weights[first:, :, h].max(-1).values.mean(1)
        assert weights == [f"{w:.2f}" for w in expected.tolist()]
        beta = torch.stack(strengths)[first:, :, h].mean(1)  # [steps]
        assert lines[at + 1].split("key strength")[1].split() == [f"{b:.2f}" for b in beta.tolist()]
    delimiters = batch.inputs[:, 0, task.width].nonzero().flatten()  # each item's first step
    vectors = [int(d) + 1 + j for d in delimiters for j in range(task.item_length)]
    write = trace.write_weights[vectors, :, 0].max(-1).values.mean()
    assert f"largest weight {write:.2f}" in next(line for line in lines if "write head 1" in line)
    copy_run = trained_run(tmp_path_factory, "recall_lookup_copy")
    monkeypatch.setattr(sys, "argv", ["recall_lookup.py", str(copy_run)])
    with pytest.raises(SystemExit, match="trained ntm on copy; this script reads an NTM trained "
                                         "on associative_recall"):
        lookup.main()
