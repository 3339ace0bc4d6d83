"""The generalisation evaluation (ntm/results/evaluate.py) on tiny trained runs: the figures equal a
hand computation on the same sequences, the files, the paper's curve, and the errors."""

from __future__ import annotations

import csv
import math
import shutil
from pathlib import Path

import pytest
import torch
from conftest import (
    assert_one_sentence,
    compose_config,
    copy_with_other_best_weights,
    trained_run,
)
from omegaconf import OmegaConf

from ntm.experiment.build import build_model, build_task
from ntm.experiment.config import ConfigError
from ntm.experiment.metrics import bit_errors_per_sequence, cost_per_sequence
from ntm.results.evaluate import (
    FIELDS,
    PAPER_CURVES,
    evaluate_sizes,
    main,
    plot_generalisation,
)
from ntm.results.runs import load_run, memory_override, paper_model

pytestmark = pytest.mark.usefixtures("isolated_torch")

@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """Tiny trained copy runs (lengths 1..3, N = 8): an NTM and the LSTM baseline."""
    return {"ntm": trained_run(tmp_path_factory, "ntm"),
            "lstm": trained_run(tmp_path_factory, "lstm", "model=lstm", "model.size=8",
                                "model.layers=2")}


def read_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        assert tuple(reader.fieldnames) == FIELDS
        return list(reader)


@pytest.mark.parametrize("kind", ["ntm", "lstm"])
def test_figures_equal_a_hand_computation_on_the_same_sequences(runs, kind) -> None:
    cfg, task, model = load_run(runs[kind], ["memory.N=16"])
    rows = evaluate_sizes(model, task, [2, 5], sequences=30, batch_size=7, seed=11)
    assert [row["size"] for row in rows] == [2, 5]
    for row, size in zip(rows, [2, 5], strict=True):
        # 30 sequences of this size from seed 11 + size, one at a time through the model.
        batch = task.sample_batch(torch.Generator().manual_seed(11 + size), 30, size)
        assert batch.inputs.shape[0] == 2 * size + 1  # every sequence has this length
        costs, errors = [], []
        for b in range(30):
            one = (x[:, b:b + 1] for x in (batch.inputs, batch.targets, batch.mask))
            inputs, targets, mask = one
            with torch.no_grad():
                logits = model(inputs)
            costs.append(float(cost_per_sequence(logits, targets, mask)))
            errors.append(float(bit_errors_per_sequence(logits, targets, mask)))
        assert row["sequences"] == 30
        assert row["cost"] == pytest.approx(sum(costs) / 30, rel=1e-5)
        assert row["bit_errors"] == pytest.approx(sum(errors) / 30, rel=1e-6)
        assert math.isnan(row["optimal_cost"])  # copy has no optimal predictor
    # The batch size changes nothing but the speed; the seed changes the sequences.
    again = evaluate_sizes(model, task, [5], sequences=30, batch_size=30, seed=11)
    assert again[0]["cost"] == pytest.approx(rows[1]["cost"], rel=1e-5)
    other = evaluate_sizes(model, task, [5], sequences=30, batch_size=30, seed=12)
    assert other[0]["cost"] != pytest.approx(rows[1]["cost"], rel=1e-5)


def test_command_writes_the_table_and_the_pictures(runs, capsys) -> None:
    run = runs["ntm"]
    main([str(run), "--sizes", "2,12", "memory.N=16", "--sequences", "20", "--seed", "5"])
    out = capsys.readouterr().out
    rows = read_rows(run / "generalisation.csv")
    assert [int(r["size"]) for r in rows] == [2, 12]
    assert all(r["sequences"] == "20" and r["optimal_cost"] == "" for r in rows)
    _, task, model = load_run(run, ["memory.N=16"])  # a copy of 12 needs more than N = 8
    expected = evaluate_sizes(model, task, [2, 12], sequences=20, seed=5)
    for row, want in zip(rows, expected, strict=True):
        assert float(row["cost"]) == pytest.approx(want["cost"], rel=1e-6)
        assert float(row["bit_errors"]) == pytest.approx(want["bit_errors"])
    for name in ("generalisation.png", "memory_use_size12.png"):
        path = run / "plots" / name
        assert path.is_file() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert str(path) in out


def test_the_baseline_has_no_memory_picture(runs) -> None:
    run = runs["lstm"]
    main([str(run), "--sizes", "3", "--sequences", "10"])
    assert [r["size"] for r in read_rows(run / "generalisation.csv")] == ["3"]
    assert (run / "plots" / "generalisation.png").is_file()
    assert not list((run / "plots").glob("memory_use_size*.png"))


def test_default_sizes_are_the_task_s_and_the_settings_are_recorded(runs, capsys) -> None:
    run = runs["ntm"]
    main([str(run), "--sequences", "2", "--no-pictures", "memory.N=128"])
    rows = read_rows(run / "generalisation.csv")
    assert [int(r["size"]) for r in rows] == [10, 20, 30, 50, 80, 120]  # docs/paper.md, and 80
    assert {(r["memory_N"], r["overrides"]) for r in rows} == {("128", "memory.N=128")}
    main([str(runs["lstm"]), "--sequences", "2", "--sizes", "4", "--no-pictures"])
    rows = read_rows(runs["lstm"] / "generalisation.csv")
    assert [(r["memory_N"], r["overrides"]) for r in rows] == [("", "")]  # no memory


def test_an_ntm_trained_in_a_smaller_memory_is_evaluated_in_the_paper_s(runs, caplog) -> None:
    """The tiny run trained with N = 8: without memory.N it is evaluated with 128 (said in the
    log and recorded); a memory.N given wins."""
    run = runs["ntm"]
    with caplog.at_level("INFO", logger="ntm.evaluate"):
        main([str(run), "--sequences", "2", "--sizes", "4", "--no-pictures"])
    assert [(r["memory_N"], r["overrides"]) for r in read_rows(run / "generalisation.csv")] == [
        ("128", "memory.N=128")]
    assert any(r.getMessage().startswith("memory.N=128 for this evaluation")
               for r in caplog.records)
    main([str(run), "--sequences", "2", "--sizes", "4", "--no-pictures", "memory.N=16"])
    assert [r["memory_N"] for r in read_rows(run / "generalisation.csv")] == ["16"]


def test_a_learned_start_weighting_grows_by_locations_no_head_starts_on(
        tmp_path_factory, capsys) -> None:
    """Trained in 8 locations: in 16 every head starts exactly as learned, on the old 8; the
    command evaluates it in 128 by itself; fewer than 8 is one sentence."""
    run = trained_run(tmp_path_factory, "w0", "memory.initial_weighting=learned")
    trained = load_run(run)[2].start_weights()
    grown = load_run(run, ["memory.N=16"])[2].start_weights()
    assert grown.shape == (2, 16)
    assert torch.allclose(grown[:, :8], trained) and torch.equal(grown[:, 8:],
                                                                 torch.zeros(2, 8))
    main([str(run), "--sequences", "2", "--sizes", "4", "--no-pictures"])
    assert [r["memory_N"] for r in read_rows(run / "generalisation.csv")] == ["128"]
    with pytest.raises(ConfigError) as error:
        load_run(run, ["memory.N=4"])
    assert_one_sentence(str(error.value), "memory.N")


@pytest.mark.parametrize("changes, added", [
    ({}, ["memory.N=128"]),
    ({"memory": {"N": 128}}, []),
    ({"memory": {"N": 256}}, []),
    ({"memory": {"init": "learned"}}, []),  # a learned memory would grow by unlearned rows
    ({"memory": {"initial_weighting": "learned"}}, ["memory.N=128"]),  # grows by -inf logits
    ({"memory": {"init": "random"}}, ["memory.N=128"]),
    ({"model": {"kind": "lstm"}}, []),
])
def test_memory_override_rule(changes, added) -> None:
    run_config = OmegaConf.merge(
        OmegaConf.create({"model": {"kind": "ntm"}, "memory": {"N": 22, "init": "constant"}}),
        OmegaConf.create(changes))
    assert memory_override(run_config, []) == added
    assert memory_override(run_config, ["memory.N=64"]) == []
    assert memory_override(OmegaConf.create(), []) == []  # an unreadable config: load_run says


def test_the_paper_curve_stands_beside_ours(tmp_path) -> None:
    cases = {("task=associative_recall",): "NTM-LSTM",  # the task's default controller
             ("task=associative_recall", "controller=feedforward"): "NTM-FF",
             ("task=associative_recall", "model=lstm"): "LSTM",
             ("task=copy",): "NTM-FF",  # copy's default controller
             ("task=copy", "controller=lstm"): "NTM-LSTM"}
    for overrides, name in cases.items():
        assert paper_model(compose_config(list(overrides))) == name
    paper = PAPER_CURVES[("associative_recall", "NTM-FF")]
    assert paper == {6: 0.0, 10: 0.0, 15: 1.5, 20: 8.0}  # docs/paper.md
    rows = [{"size": s, "cost": c, "bit_errors": c / 2, "sequences": 10,
             "optimal_cost": math.nan} for s, c in ((6, 0.1), (10, 0.5), (20, 9.0))]
    fig = plot_generalisation(rows, tmp_path / "g.png", title="t", trained_up_to=6,
                              paper=paper)
    cost_ax = fig.axes[0]
    lines = {line.get_label(): line for line in cost_ax.lines}
    assert list(lines["paper"].get_xdata()) == [6, 10, 15, 20]
    assert list(lines["paper"].get_ydata()) == [0.0, 0.0, 1.5, 8.0]
    assert list(lines["this run"].get_ydata()) == [0.1, 0.5, 9.0]
    assert "Bayes-optimal" not in lines
    assert (tmp_path / "g.png").is_file()


@pytest.mark.parametrize("args, setting", [
    (["--sizes", "0"], "--sizes"),
    (["--sizes", "2,x"], "--sizes"),
    (["--sequences", "0"], "--sequences"),
    (["--batch-size", "0"], "--batch-size"),
    (["--seed", "-1"], "--seed"),
    (["memory.N=0"], "memory.N"),
    (["controller.size=16"], "checkpoint"),
])
def test_bad_input_is_one_sentence_and_exit_2(runs, capsys, args, setting) -> None:
    with pytest.raises(SystemExit) as stop:
        main([str(runs["ntm"]), *args])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert_one_sentence(err.strip().removeprefix("error: "), setting)


def test_best_evaluates_the_weights_of_the_lowest_held_out_cost(runs, tmp_path) -> None:
    """``--best`` loads ``best.pt`` (here given other weights than the last checkpoint's, so
    that the two differ) and says so in the table; without it, the last checkpoint."""
    run = copy_with_other_best_weights(runs["ntm"], tmp_path / "run")
    figures = {}
    for flags, name in (["--best"], "best.pt"), ([], "checkpoint.pt"):
        main([str(run), *flags, "--sizes", "3", "--sequences", "20", "--no-pictures"])
        rows = read_rows(run / "generalisation.csv")
        assert [r["checkpoint"] for r in rows] == [name]
        cfg, task, model = load_run(run, ["memory.N=128"], best=bool(flags))  # evaluate's N
        expected = evaluate_sizes(model, task, [3], sequences=20, seed=cfg.train.eval_seed)
        assert float(rows[0]["cost"]) == pytest.approx(expected[0]["cost"], rel=1e-6)
        figures[name] = float(rows[0]["cost"])
    assert figures["best.pt"] != pytest.approx(figures["checkpoint.pt"])


def test_best_without_best_weights_is_one_sentence(runs, tmp_path, capsys) -> None:
    """A run directory without ``best.pt`` (trained before ntm kept it) is refused for
    ``--best`` by name, and still evaluates without it."""
    run = tmp_path / "old"
    shutil.copytree(runs["ntm"], run)
    (run / "best.pt").unlink()
    with pytest.raises(SystemExit) as stop:
        main([str(run), "--best", "--sizes", "3", "--sequences", "2", "--no-pictures"])
    assert stop.value.code == 2
    assert_one_sentence(capsys.readouterr().err.strip().removeprefix("error: "), "--best")
    main([str(run), "--sizes", "3", "--sequences", "2", "--no-pictures"])
    assert [r["checkpoint"] for r in read_rows(run / "generalisation.csv")] == ["checkpoint.pt"]


def test_a_missing_run_is_one_sentence(tmp_path, capsys) -> None:
    with pytest.raises(SystemExit) as stop:
        main([str(tmp_path / "nowhere")])
    assert stop.value.code == 2
    assert_one_sentence(capsys.readouterr().err.strip().removeprefix("error: "), "nowhere")


def test_the_optimal_cost_is_reported_beside_the_model_s_for_n_grams() -> None:
    cfg = compose_config(["task=dynamic_ngrams", "task.length=30", "memory.N=8", "memory.M=4",
                          "controller.size=8"])
    task = build_task(cfg)
    model = build_model(cfg, task)
    rows = evaluate_sizes(model, task, [30, 60], sequences=12, batch_size=5, seed=3)
    for row, size in zip(rows, [30, 60], strict=True):
        batch = task.sample_batch(torch.Generator().manual_seed(3 + size), 12, size)
        assert batch.inputs.shape[0] == size - 1
        assert row["optimal_cost"] == pytest.approx(float(task.optimal_cost(batch).mean()),
                                                    rel=1e-6)
        # Every one of the size - 1 predictions costs the optimal predictor about a bit or less.
        assert 0 < row["optimal_cost"] < size - 1


def test_progress_per_size_and_the_table_printed_once(runs, capsys, caplog) -> None:
    """A line on stderr as each size starts; each result once, in the table on stdout."""
    caplog.set_level("INFO", logger="ntm.evaluate")
    main([str(runs["ntm"]), "--sizes", "2,3", "--sequences", "4", "--no-pictures",
          "memory.N=16"])
    progress = [r.getMessage() for r in caplog.records if r.name == "ntm.evaluate"]
    assert [m.split(":")[0] for m in progress] == ["length 2 (1 of 2)", "length 3 (2 of 2)"]
    out = capsys.readouterr().out
    rows = read_rows(runs["ntm"] / "generalisation.csv")
    for row in rows:
        cost = f"{float(row['cost']):.3f}"
        assert sum(cost in line for line in out.splitlines()) == 1, out
    assert out.count("bit errors") == 1, out  # one header


def test_repeat_copy_generalises_along_the_axis_chosen(tmp_path_factory, capsys) -> None:
    """``task.size_axis=length`` evaluates longer sequences (the repeat count still drawn from
    training), and the largest trained size is then the longest trained length."""
    run = trained_run(tmp_path_factory, "repeat", "task=repeat_copy", "task.max_length=3",
                      "task.max_repeats=2")
    main([str(run), "--sequences", "2", "--sizes", "2,5", "task.size_axis=length"])
    rows = read_rows(run / "generalisation.csv")
    given = "task.size_axis=length memory.N=128"  # and the paper's memory (N = 8 trained)
    assert [(r["size"], r["overrides"]) for r in rows] == [("2", given), ("5", given)]
    assert "generalisation.png" in capsys.readouterr().out
    task = build_task(load_run(run, ["task.size_axis=length"])[0])
    assert (task.size_name, task.largest_training_size) == ("length", 3)
    # Five vectors a sequence, each copied once or twice: 5 * (n + 1) + 2 steps.
    assert task.sample_batch(torch.Generator().manual_seed(0), 4, 5).inputs.shape[0] in (12, 17)


def test_a_run_trained_with_cuda_graphs_loads_on_the_cpu(runs, tmp_path) -> None:
    """``train.compile=cudagraphs`` needs CUDA to train, not to evaluate: a run that used it
    loads on the CPU, with the eager step, as any other run does."""
    import shutil

    from omegaconf import OmegaConf

    run = tmp_path / "cudagraphs_run"
    shutil.copytree(runs["ntm"], run)
    saved = OmegaConf.load(run / "config.yaml")
    saved.train.compile, saved.device = "cudagraphs", "cuda"
    OmegaConf.save(saved, run / "config.yaml")
    cfg, task, model = load_run(run, ["memory.N=16"])
    assert (cfg.train.compile, cfg.device) == ("false", "cpu")
    expected = load_run(runs["ntm"], ["memory.N=16"])[2]
    batch = task.sample_batch(torch.Generator().manual_seed(3), 4)
    with torch.no_grad():
        torch.testing.assert_close(model(batch.inputs), expected(batch.inputs), rtol=0, atol=0)
