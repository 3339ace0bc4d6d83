"""Tests for the pictures: each file is written and readable, panels are counted, the weights
drawn are exactly the model's trace, wrong bits are marked where and only where they are
wrong, learning curves from hand-written metrics, loading a run, and the command line."""

from __future__ import annotations

import csv
import os
import random
import subprocess
import sys
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest
import torch
from conftest import (
    TINY,
    assert_one_sentence,
    compose_config,
    copy_with_other_best_weights,
    trained_run,
)
from omegaconf import OmegaConf
from PIL import Image

from ntm.experiment import checkpoint
from ntm.experiment.build import build_model, build_task
from ntm.experiment.config import ConfigError
from ntm.experiment.metrics import bit_errors_per_sequence
from ntm.experiment.metrics_log import METRICS_FIELDS
from ntm.models.ntm import NTM, NTMConfig, Trace
from ntm.results.plot import (
    COLORBAR,
    animate_memory,
    memory_frame_title,
    plot_learning_curves,
    plot_memory_contents,
    plot_memory_use,
    read_metrics,
    write_run_pictures,
)
from ntm.results.runs import episode, load_run
from tasks import Batch, CopyTask, make_task

pytestmark = pytest.mark.usefixtures("isolated_torch")

PICTURES = {"learning_curves.png", "memory_use.png", "memory_contents.png"}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A tiny trained copy run (4 steps, 2 evaluations); trained on lengths 1..3, N = 8."""
    return trained_run(tmp_path_factory, "run")


def panels(fig) -> list:
    """The figure's panels: every axes but the colour bars."""
    return [ax for ax in fig.axes if ax.get_label() != COLORBAR]


def titled(fig, prefix: str) -> list:
    return [ax for ax in panels(fig) if ax.get_title().startswith(prefix)]


def image_of(ax) -> np.ndarray:
    return np.ma.getdata(ax.images[0].get_array())


def assert_png(path: Path) -> None:
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[2] in (3, 4), image.shape
    assert image.shape[0] >= 200 and image.shape[1] >= 300, image.shape


def tiny_episode(task_name: str, read_heads: int, write_heads: int):
    """A small untrained NTM (fixed seed) on a small task, and one traced episode of it."""
    if task_name == "copy":
        task = CopyTask(width=3, max_length=3)
    else:
        task = make_task("associative_recall", width=2, item_length=1, max_items=3)
    torch.manual_seed(0)
    model = NTM(NTMConfig(task.input_width, task.output_width, memory_locations=8,
                          memory_width=3, read_heads=read_heads, write_heads=write_heads,
                          controller_size=6))
    return episode(model, task, seed=1, size=3)


def hand_trace(write_at: list[int], read_at: list[int], n: int, m: int = 3) -> Trace:
    """One head of each kind focused on the given locations, one step per entry; the rest is
    random but fixed."""
    steps = len(write_at)
    gen = torch.Generator().manual_seed(0)
    write_w, read_w = torch.zeros(steps, 1, 1, n), torch.zeros(steps, 1, 1, n)
    write_w[range(steps), 0, 0, write_at] = 1.0
    read_w[range(steps), 0, 0, read_at] = 1.0
    vectors = [torch.rand(steps, 1, 1, m, generator=gen) for _ in range(3)]
    return Trace(read_w, write_w, *vectors, memory=torch.randn(steps, 1, n, m, generator=gen))


def hand_batch(steps: int, inputs: int = 4, outputs: int = 3) -> Batch:
    return Batch(torch.zeros(steps, 1, inputs), torch.zeros(steps, 1, outputs),
                 torch.ones(steps, 1, outputs))


@pytest.mark.parametrize("task_name, read_heads, write_heads, expected", [
    ("copy", 1, 1, 7),  # Inputs, Adds, Write W. | Targets, Outputs, Reads, Read W.
    ("associative_recall", 2, 2, 11),  # 1 + 2 * 2 | 2 + 2 * 2
])
def test_memory_use_has_a_panel_per_head_and_draws_the_trace_exactly(
        tmp_path, task_name, read_heads, write_heads, expected) -> None:
    batch, logits, trace = tiny_episode(task_name, read_heads, write_heads)
    path = tmp_path / "memory_use.png"
    fig = plot_memory_use(batch, logits, trace, path)
    assert_png(path)
    assert len(panels(fig)) == expected
    assert len(fig.axes) - len(panels(fig)) == 2  # colour bars: unit values, vectors
    for name in ("Inputs", "Targets", "Outputs"):
        assert len(titled(fig, name)) == 1, name
    steps = len(batch.inputs)
    for ax in panels(fig):  # time aligned across every panel
        assert ax.get_xlim() == (-0.5, steps - 0.5), ax.get_title()
    assert np.array_equal(image_of(titled(fig, "Inputs")[0]), batch.inputs[:, 0].T.numpy())
    assert np.array_equal(image_of(titled(fig, "Targets")[0]), batch.targets[:, 0].T.numpy())
    for prefix, weights in (("Write Weightings", trace.write_weights),
                            ("Read Weightings", trace.read_weights),
                            ("Adds", trace.add), ("Reads", trace.reads)):
        axes = titled(fig, prefix)
        assert len(axes) == weights.shape[2], prefix
        for head, ax in enumerate(axes):
            if weights.shape[2] > 1:
                assert f"head {head + 1}" in ax.get_title()
            # Exactly the model's numbers: [T, N] of the trace is drawn as [N, T].
            assert np.array_equal(image_of(ax), weights[:, 0, head].T.numpy()), prefix


def test_wrong_bits_are_marked_where_and_only_where_they_are_wrong() -> None:
    targets = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]).unsqueeze(1)  # (T, 1, 2)
    mask = torch.tensor([[1.0, 1.0], [1.0, 1.0], [0.0, 0.0]]).unsqueeze(1)
    logits = torch.tensor([
        [0.0, -2.0],  # p = 0.5 is not above 0.5: bit 0 is wrong
        [3.0, 1.0],  # bit 0 is wrong, bit 1 right
        [-5.0, -5.0],  # both wrong, but not scored: not marked
    ]).unsqueeze(1)
    batch = Batch(torch.zeros(3, 1, 3), targets, mask)
    fig = plot_memory_use(batch, logits, hand_trace([0, 1, 2], [0, 0, 1], n=4))
    outputs = titled(fig, "Outputs")[0]
    (marks,) = [line for line in outputs.lines if line.get_label() == "wrong bits"]
    assert {(int(t), int(b)) for t, b in marks.get_xydata()} == {(0, 0), (1, 0)}
    assert "2 wrong bits" in outputs.get_title()
    assert bit_errors_per_sequence(logits, targets, mask).item() == 2  # same rule as metrics
    drawn = np.ma.masked_invalid(image_of(outputs))
    assert drawn.mask[:, 2].all() and not drawn.mask[:, :2].any()  # unscored step greyed
    assert np.array_equal(drawn[:, :2], torch.sigmoid(logits[:2, 0]).T.numpy())


def test_long_memories_are_cropped_to_the_visited_locations_in_circular_order() -> None:
    n = 64
    trace = hand_trace([0, 63, 62, 61], [0, 0, 63, 62], n)  # a head walking back from 0
    fig = plot_memory_use(hand_batch(4), torch.zeros(4, 1, 3), trace)
    (ax,) = titled(fig, "Write Weightings")
    rows = [59, 60, 61, 62, 63, 0, 1, 2]  # visited: 61..63 and 0; a margin of 2
    assert "locations 59-63, 0-2 of 64" in ax.get_title()
    assert np.array_equal(image_of(ax), trace.write_weights[:, 0, 0, rows].T.numpy())
    assert ax.yaxis.get_major_formatter()(0, 0) == "59"
    assert ax.yaxis.get_major_formatter()(5, 0) == "0"
    assert ax.get_ylabel() == "Location (wraps 63 → 0)"  # said on the axis, and drawn
    assert [line.get_ydata()[0] for line in ax.lines] == [4.5]
    (ax,) = titled(plot_memory_use(hand_batch(4), torch.zeros(4, 1, 3), trace, crop=False),
                   "Write Weightings")
    assert ax.get_title() == "Write Weightings"
    assert np.array_equal(image_of(ax), trace.write_weights[:, 0, 0].T.numpy())
    trace = hand_trace([10, 11, 12, 13], [10, 10, 11, 12], n)  # no wrap: margins stop at 0
    (ax,) = titled(plot_memory_use(hand_batch(4), torch.zeros(4, 1, 3), trace),
                   "Read Weightings")
    assert "locations 8-15 of 64" in ax.get_title()
    assert ax.get_ylabel() == "Location"
    assert np.array_equal(image_of(ax), trace.read_weights[:, 0, 0, 8:16].T.numpy())


def test_memory_contents_after_the_input_and_at_the_end_with_visited_rows_marked(
        tmp_path) -> None:
    trace = hand_trace([2, 3, 4, 5], [0, 2, 3, 4], n=8)
    batch = hand_batch(4)
    batch.inputs[:2, 0, 0] = 1.0  # input on steps 0 and 1: the input phase ends at step 1
    path = tmp_path / "memory_contents.png"
    fig = plot_memory_contents(batch.inputs, trace, path)
    assert_png(path)
    axes = panels(fig)
    assert [ax.get_title() for ax in axes] == ["Memory after step 1 (end of input)",
                                               "Memory after step 3 (last step)"]
    expected = {1: {"write head 1": {2, 3}, "read head 1": {0, 2}},
                3: {"write head 1": {2, 3, 4, 5}, "read head 1": {0, 2, 3, 4}}}
    for ax, step in zip(axes, (1, 3), strict=True):
        assert np.array_equal(image_of(ax), trace.memory[step, 0].numpy())
        marked = {line.get_label(): {int(y) for y in line.get_ydata()} for line in ax.lines}
        assert marked == expected[step]
    assert len(panels(plot_memory_contents(batch.inputs, trace, steps=[0, 1, 2]))) == 3


def test_animation_has_a_frame_per_step(tmp_path) -> None:
    trace = hand_trace([0, 1, 2], [0, 0, 1], n=6)
    path = animate_memory(trace, tmp_path / "memory.gif", title="copy", input_end=1)
    with Image.open(path) as gif:
        assert gif.n_frames == 3


def test_animation_frames_name_the_step_and_its_phase() -> None:
    assert memory_frame_title(1, 3, 1, "copy") == \
        "copy\nstep 1 of 2: input phase (the sequence goes in)"
    assert memory_frame_title(2, 3, 1) == "step 2 of 2: output phase (the answer comes out)"
    assert memory_frame_title(0, 3, None) == "step 0 of 2"


CURVE_COLUMNS = ("step", "sequences", "wall_seconds", "train_cost", "eval_cost",
                 "eval_bit_errors", "sequences_per_second", "eval_optimal_cost",
                 "trained_bit_errors", "curriculum")


def write_metrics(path: Path, rows: list[tuple]) -> Path:
    """``metrics.csv`` with the columns of CURVE_COLUMNS given, in that order, per row."""
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, METRICS_FIELDS, restval="")
        writer.writeheader()
        writer.writerows(dict(zip(CURVE_COLUMNS, row, strict=False)) for row in rows)
    return path


def test_learning_curves_from_hand_written_metrics(tmp_path) -> None:
    metrics = write_metrics(tmp_path / "metrics.csv", [  # the last evaluations are perfect
        (100, 3200, 10.0, 80.0, 75.0, 30.0, 320.0),
        (200, 6400, 20.0, 5.0, 2.5, 0.5, 320.0),
        (300, 9600, 30.0, 0.0, 0.0, 0.0, 320.0),
        (400, 12800, 40.0, 0.0, 0.0, 0.0, 320.0),
    ])
    path = tmp_path / "learning_curves.png"
    fig = plot_learning_curves(metrics, path, title="copy")
    assert_png(path)
    cost, errors = titled(fig, "Cost") + titled(fig, "Bit errors")
    assert cost.get_yscale() == errors.get_yscale() == "symlog"  # zeros on a log-like scale
    held_out = [line for line in cost.lines if line.get_label() == "held-out cost"][0]
    assert np.array_equal(held_out.get_xdata(), [3200, 6400, 9600, 12800])
    assert "12,800 sequences in 0.7 min" in fig.get_suptitle()
    assert "last held-out cost 0 bits" in fig.get_suptitle()
    ngrams = write_metrics(tmp_path / "ngrams.csv", [(100, 3200, 10.0, 140.0, 133.82, 47.4, 320.0)])
    assert "last held-out cost 133.82 bits" in plot_learning_curves(ngrams).get_suptitle()

    one = write_metrics(tmp_path / "one.csv", [(100, 3200, 10.0, 80.0, 75.0, 30.0, 320.0)])
    assert len(panels(plot_learning_curves(one, tmp_path / "one.png"))) == 2
    assert_png(tmp_path / "one.png")
    with pytest.raises(ValueError, match="no rows"):
        plot_learning_curves(write_metrics(tmp_path / "empty.csv", []))
    assert "Bayes-optimal, held out" not in [line.get_label() for line in cost.lines]


def test_learning_curves_show_the_optimal_cost_when_logged(tmp_path) -> None:
    metrics = write_metrics(tmp_path / "metrics.csv", [  # dynamic N-grams
        (100, 3200, 10.0, 150.0, 149.0, 60.0, 320.0, 133.2),
        (200, 6400, 20.0, 140.0, 138.0, 55.0, 320.0, 133.2),
    ])
    fig = plot_learning_curves(metrics, tmp_path / "curves.png")
    lines = {line.get_label(): line for line in titled(fig, "Cost")[0].lines}
    assert list(lines["Bayes-optimal, held out"].get_ydata()) == [133.2, 133.2]
    assert list(lines["held-out cost"].get_ydata()) == [149.0, 138.0]


def test_learning_curves_mark_where_the_curriculum_grew(tmp_path) -> None:
    """Row i's levels are those its training batches came from, so the level that row 2 shows
    grew at the evaluation of row 1: one dotted line there on both panels, the new levels
    written beside it; a run without a curriculum has no such line."""
    metrics = write_metrics(tmp_path / "metrics.csv", [
        (100, 3200, 10.0, 80.0, 75.0, 30.0, 320.0, "", "", "max_repeats=1"),
        (200, 6400, 20.0, 70.0, 72.0, 28.0, 320.0, "", "", "max_repeats=1"),
        (300, 9600, 30.0, 60.0, 70.0, 25.0, 320.0, "", "", "max_repeats=2"),
        (400, 12800, 40.0, 50.0, 65.0, 20.0, 320.0, "", "", "max_repeats=3"),
    ])
    assert read_metrics(metrics)["curriculum"].tolist() == [
        "max_repeats=1", "max_repeats=1", "max_repeats=2", "max_repeats=3"]
    fig = plot_learning_curves(metrics, tmp_path / "curves.png")
    assert_png(tmp_path / "curves.png")
    for ax in titled(fig, "Cost") + titled(fig, "Bit errors"):
        grows = [line for line in ax.lines if line.get_linestyle() == ":"
                 and line.get_color() == "0.5"]
        assert [line.get_xdata()[0] for line in grows] == [6400, 9600]
        assert "curriculum grows" in ax.get_legend_handles_labels()[1]
    cost = titled(fig, "Cost")[0]
    assert [t.get_text().strip() for t in cost.texts] == ["max_repeats=2", "max_repeats=3"]
    # A run written before the column existed and resumed since: its first rows are empty, and
    # the first level after them is no growth.
    resumed = write_metrics(tmp_path / "resumed.csv", [
        (100, 3200, 10.0, 80.0, 75.0, 30.0, 320.0, "", "", ""),
        (200, 6400, 20.0, 70.0, 72.0, 28.0, 320.0, "", "", "max_repeats=3"),
        (300, 9600, 30.0, 60.0, 70.0, 25.0, 320.0, "", "", "max_repeats=4"),
    ])
    cost = titled(plot_learning_curves(resumed), "Cost")[0]
    assert [t.get_text().strip() for t in cost.texts] == ["max_repeats=4"]
    plain = write_metrics(tmp_path / "plain.csv", [(100, 3200, 10.0, 150.0, 149.0, 60.0, 320.0)])
    assert "curriculum" not in read_metrics(plain)
    cost = titled(plot_learning_curves(plain), "Cost")[0]
    assert "curriculum grows" not in cost.get_legend_handles_labels()[1] and not cost.texts


def test_learning_curves_show_the_trained_weights_errors_beside_the_average(tmp_path) -> None:
    """A run judged by an average of its weights (and guarded) logs the trained weights' bit
    errors too; the curve of bit errors shows both, named; a run without them shows one."""
    metrics = write_metrics(tmp_path / "metrics.csv", [
        (100, 3200, 10.0, 150.0, 149.0, 60.0, 320.0, 133.2, 61.0),
        (200, 6400, 20.0, 140.0, 138.0, 55.0, 320.0, 133.2, 90.0),  # the trained ones collapsed
    ])
    fig = plot_learning_curves(metrics, tmp_path / "curves.png")
    lines = {line.get_label(): line for line in titled(fig, "Bit errors")[0].lines}
    assert list(lines["held-out bit errors (the average)"].get_ydata()) == [60.0, 55.0]
    assert list(lines["trained weights (the rollback's)"].get_ydata()) == [61.0, 90.0]
    plain = write_metrics(tmp_path / "plain.csv", [(100, 3200, 10.0, 150.0, 149.0, 60.0, 320.0)])
    errors = titled(plot_learning_curves(plain), "Bit errors")[0]
    assert [line.get_label() for line in errors.lines] == ["held-out bit errors"]


def test_write_run_pictures_on_a_trained_run(run_dir, tmp_path) -> None:
    cfg, task, model = load_run(run_dir)
    model.train()
    states = random.getstate(), torch.get_rng_state()
    paths = write_run_pictures(run_dir, cfg, model, task, animate=True)
    assert {p.name for p in paths} == PICTURES | {"memory.gif"}
    for path in paths:
        assert path.parent == run_dir / "plots" and path.is_file()
        if path.suffix == ".png":
            assert_png(path)
    assert model.training  # the mode is put back
    assert random.getstate() == states[0] and torch.equal(torch.get_rng_state(), states[1])
    # No metrics.csv (a run before its first evaluation): no curves, no error.
    paths = write_run_pictures(tmp_path, cfg, model, task, size=2)
    assert {p.name for p in paths} == PICTURES - {"learning_curves.png"}


def test_load_run_takes_a_longer_task_and_a_larger_memory(run_dir) -> None:
    cfg, task, model = load_run(run_dir, ["task.max_length=6", "memory.N=16"])
    assert task.max_length == 6 and model.config.memory_locations == 16
    trained = checkpoint.load(run_dir / "checkpoint.pt")["model"]
    for name, parameter in model.named_parameters():
        assert torch.equal(parameter, trained[name]), name
    batch, logits, trace = episode(model, task, seed=3, size=6)
    assert logits.shape == (13, 1, 8) and trace.memory.shape == (13, 1, 16, 4)


def test_load_run_errors_are_one_sentence(run_dir, tmp_path) -> None:
    cases = [
        (tmp_path / "nowhere", [], "nowhere"),
        (run_dir, ["task.max_length"], "task.max_length"),
        (run_dir, ["memory.size=3"], "memory.size"),
        (run_dir, ["memory.N=abc"], "memory.N"),
        (run_dir, ["memory.N=0"], "memory.N"),
        (run_dir, ["controller.size=16"], "checkpoint"),
    ]
    for path, overrides, setting in cases:
        with pytest.raises(ConfigError) as error:
            load_run(path, overrides)
        assert_one_sentence(str(error.value), setting)

    # A run that learned its initial memory: it may grow (the new locations start from the
    # mean learned row) but not shrink.
    learned = tmp_path / "learned"
    learned.mkdir()
    cfg = compose_config([*TINY, "memory.init=learned"])
    OmegaConf.save(cfg, learned / "config.yaml")
    trained = build_model(cfg, build_task(cfg)).state_dict()
    checkpoint.save(learned / "checkpoint.pt", {"model": trained})
    assert load_run(learned)[2].config.memory_locations == 8
    grown = load_run(learned, ["memory.N=12"])[2].memory_bias.detach()
    assert grown.shape == (12, 4)
    assert torch.equal(grown[:8], trained["memory_bias"])
    assert torch.allclose(grown[8:], trained["memory_bias"].mean(0).expand(4, -1))
    with pytest.raises(ConfigError) as error:
        load_run(learned, ["memory.N=6"])
    assert_one_sentence(str(error.value), "memory.init=learned")

    (learned / "checkpoint.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(checkpoint.CheckpointError) as error:
        load_run(learned)
    assert_one_sentence(str(error.value), "checkpoint.pt")


def test_command_line(run_dir, tmp_path) -> None:
    command = [sys.executable, "-m", "ntm.plot"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # the machine is shared
    good = subprocess.Popen([*command, str(run_dir), "task.max_length=5", "--size", "5",
                             "--seed", "2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    bad = subprocess.run([*command, str(tmp_path / "missing")], capture_output=True, text=True,
                         timeout=120, env=env)
    out, err = good.communicate(timeout=120)
    assert good.returncode == 0, err
    # A size past the training range (3), from a run trained in 8 locations: the paper's 128.
    assert err.startswith("memory.N=128 for this episode"), err
    assert {Path(line).name for line in out.splitlines()} == PICTURES
    for line in out.splitlines():
        assert_png(Path(line))
    assert bad.returncode == 2 and bad.stdout == ""
    assert "Traceback" not in bad.stderr
    assert bad.stderr.startswith("error: ") and bad.stderr.count("\n") == 1, bad.stderr
    assert_one_sentence(bad.stderr.strip().removeprefix("error: "), "missing")



def test_best_draws_the_best_weights_and_names_them(run_dir, tmp_path, monkeypatch,
                                                    capsys) -> None:
    """``ntm.plot --best`` draws the episode of ``best.pt``'s weights, its titles say so; a
    run without ``best.pt`` is refused in one sentence."""
    import ntm.results.plot as plot

    drawn = []

    def memory_use(batch, logits, trace, path, title):
        drawn.append((logits, title))
        return plot_memory_use(batch, logits, trace, path, title=title)

    monkeypatch.setattr(plot, "plot_memory_use", memory_use)
    run = copy_with_other_best_weights(run_dir, tmp_path / "run")
    plot.main([str(run), "--best"])
    plot.main([str(run)])
    (best_logits, best_title), (last_logits, last_title) = drawn
    assert "(best.pt)" in best_title and "best.pt" not in last_title
    assert not torch.equal(best_logits, last_logits)
    (run / "best.pt").unlink()
    with pytest.raises(SystemExit) as stop:
        plot.main([str(run), "--best"])
    assert stop.value.code == 2
    assert_one_sentence(capsys.readouterr().err.strip().removeprefix("error: "), "--best")


def test_load_run_reads_a_run_from_before_a_setting_existed(run_dir, tmp_path) -> None:
    old = tmp_path / "old"
    old.mkdir()
    cfg = OmegaConf.load(run_dir / "config.yaml")
    del cfg.model["size"], cfg.model["layers"], cfg.train["lr_decay_patience"]
    OmegaConf.save(cfg, old / "config.yaml")
    (old / "checkpoint.pt").write_bytes((run_dir / "checkpoint.pt").read_bytes())
    loaded, _, model = load_run(old)
    assert loaded.model.size is None and loaded.train.lr_decay_patience is None
    assert isinstance(model, torch.nn.Module)
