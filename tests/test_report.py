"""Tests for the sweep report on synthetic run folders whose numbers are worked out by hand:
two groups, a run that never solved, runs that crashed (a cut-short metrics line, a header
only, no config at all), extra and missing metrics columns, and a generalisation table."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_one_sentence, compose_config
from omegaconf import OmegaConf

from ntm.results.report import (
    carried_forward,
    group_name,
    main,
    plot_group,
    plot_groups,
    quartiles,
    write_report,
)
from ntm.results.sweep import Run, find_run_dirs, group_runs, read_run

HEADER = "step,sequences,wall_seconds,train_cost,eval_cost,eval_bit_errors,sequences_per_second"

# (sequences, wall seconds, held-out cost, held-out bit errors) per evaluation.
# Group 1: optim.lr=0.001, budget 4000 sequences, threshold 0.01 (the default).
LR1 = {
    0: [(500, 5, 40, 5), (1000, 10, 2, 0.005)],  # solved at 1000 sequences, 10 s
    1: [(500, 6, 50, 8), (1000, 12, 30, 3), (1500, 20, 10, 1), (2000, 30, 1, 0)],  # 2000, 30 s
    2: [(1000, 10, 45, 6), (2000, 20, 20, 2), (3000, 30, 8, 0.5), (4000, 50, 4, 0.01)],  # = 0.01
    3: [(1000, 10, 60, 9), (2000, 20, 55, 8), (3000, 30, 50, 7), (4000, 40, 44, 6)],  # budget
}
# Hand-computed (numpy's default quartiles: linear between sorted values):
# to solve, sequences 1000, 2000, 4000: Q1 1500, median 2000, Q3 3000;
# seconds 10, 30, 50: 20, 30, 40; final costs of all four 1, 2, 4, 44: Q1 1.75, median 3,
# Q3 4 + 0.25 * (44 - 4) = 14.
GENERALISATION = {  # seed -> rows (size, cost, bit_errors, sequences)
    0: [(20, 0.5, 0.1, 100), (40, 10, 2, 100)],
    1: [(40, 20, 4, 100), (20, 1.0, 0.2, 100)],  # any order of sizes
    2: [(20, 1.5, 0.3, 100), (40, 30, 6, 100)],
}
# size 20: costs 0.5, 1, 1.5 -> 1 (0.75-1.25); bit errors 0.1, 0.2, 0.3 -> 0.2 (0.15-0.25);
# size 40: costs 10, 20, 30 -> 20 (15-25); bit errors 2, 4, 6 -> 4 (3-5).


def write_run(run_dir: Path, seed: int, lr: float, rows, *, config: bool = True,
              header: str = HEADER, tail: str = "", generalisation=None, extra=(),
              steps=None, trained=None) -> Path:
    """A run folder as ``ntm.train`` leaves it inside a Hydra sweep (``extra`` overrides;
    ``steps``, one per row, default 10, 20, ...; ``trained``, one per row, the trained
    weights' bit errors of a run that averages its weights)."""
    (run_dir / ".hydra").mkdir(parents=True)
    overrides = [f"optim.lr={lr}", f"seed={seed}", "train.max_sequences=4000", *extra]
    OmegaConf.save(OmegaConf.create(overrides), run_dir / ".hydra" / "overrides.yaml")
    if config:
        OmegaConf.save(compose_config(overrides), run_dir / "config.yaml", resolve=True)
    columns = header.split(",")
    lines = [header]
    for i, (sequences, seconds, cost, errors) in enumerate(rows):
        known = {"step": (i + 1) * 10 if steps is None else steps[i],
                 "sequences": sequences, "wall_seconds": seconds,
                 "train_cost": cost + 1, "eval_cost": cost, "eval_bit_errors": errors,
                 "sequences_per_second": 100.0, "eval_optimal_cost": 0.5,
                 "trained_bit_errors": "" if trained is None else trained[i]}
        lines.append(",".join(str(known[c]) for c in columns))
    (run_dir / "metrics.csv").write_text("\r\n".join(lines) + "\r\n" + tail)
    (run_dir / "checkpoint.pt").write_bytes(b"")
    if generalisation:
        text = "size,cost,bit_errors,sequences\n" + "".join(
            ",".join(str(v) for v in row) + "\n" for row in generalisation)
        (run_dir / "generalisation.csv").write_text(text)
    return run_dir


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("sweep")
    job = 0
    for seed, rows in LR1.items():
        write_run(root / f"{job}_lr1_seed{seed}", seed, 0.001, rows,
                  header=HEADER + ",eval_optimal_cost",  # a column another branch adds
                  generalisation=GENERALISATION.get(seed))
        job += 1
    # Group 2: optim.lr=0.002, metrics without the optional columns step and
    # sequences_per_second. Final costs of the evaluated runs 3 and 31: Q1 10, median 17, Q3 24.
    short = "sequences,wall_seconds,train_cost,eval_cost,eval_bit_errors"
    write_run(root / "4_lr2_seed0", 0, 0.002, [(500, 4, 3, 0)], header=short)  # solved
    write_run(root / "5_lr2_seed1", 1, 0.002, [(500, 5, 31, 4)], header=short,
              tail="1000,11,26,25.5,2")  # killed while writing its second row
    write_run(root / "6_lr2_seed2", 2, 0.002, [], header=short)  # killed before evaluating
    write_run(root / "7_lr2_seed3", 3, 0.002, [], config=False)  # stopped before training
    (root / "multirun.yaml").write_text("hydra: {}\n")
    write_report(root)
    return root


def table_row(text: str, first_cells: str) -> list[str]:
    """The cells of the one table row that starts with ``first_cells``."""
    (line,) = [ln for ln in text.splitlines() if ln.startswith(f"| {first_cells} |")]
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_summary_numbers_are_the_hand_computed_ones(sweep) -> None:
    text = (sweep / "report.md").read_text()
    assert "7 runs in 2 groups; 1 run could not be read" in text
    assert "Settings that differ between the groups: `optim.lr`." in text
    # The lowest held-out costs are the last ones here: every run's cost only fell.
    assert table_row(text, "A") == ["A", "optim.lr=0.001", "3 of 4", "2,000 (1,500–3,000)",
                                    "30 (20–40)", "3 (1.75–14)", "3 (1.75–14)"]
    assert table_row(text, "B") == ["B", "optim.lr=0.002", "1 of 3", "500 (500–500)",
                                    "4 (4–4)", "17 (10–24)", "17 (10–24)"]


def test_each_run_has_its_row(sweep) -> None:
    text = (sweep / "report.md").read_text()
    assert table_row(text, "`2_lr1_seed2`")[:8] == ["`2_lr1_seed2`", "2", "yes", "4,000", "50",
                                                     "4,000", "4", "0.01"]
    assert table_row(text, "`3_lr1_seed3`")[:8] == ["`3_lr1_seed3`", "3", "no", "—", "—",
                                                     "4,000", "44", "6"]
    row = table_row(text, "`5_lr2_seed1`")
    assert row[2:8] == ["no", "—", "—", "500", "31", "4"]  # the cut-short row is left out
    assert row[8] == "31 at 500 (5 s)"
    assert "cut short" in row[9]
    assert table_row(text, "`6_lr2_seed2`")[2:9] == ["no"] + ["—"] * 6


def test_a_run_that_rolled_back_at_its_last_evaluation_reports_the_model_it_kept(
        tmp_path) -> None:
    """Copy's default rolls back past 10 x the best and 10 bit errors: the last row is the
    collapse the run discarded, so the figures and "solved" are the best evaluation's."""
    every = ("train.eval_every=10",)  # the rows' steps 10, 20, ... are evaluation steps
    write_run(tmp_path / "0_seed0", 0, 0.001, [(800, 5, 40, 5), (1600, 10, 2, 0.5),
                                               (2400, 15, 90, 35)], extra=every)
    write_run(tmp_path / "1_seed1", 1, 0.001, [(800, 5, 3, 0.005), (1600, 10, 95, 40)],
              extra=every)
    write_run(tmp_path / "2_seed2", 2, 0.001, [(800, 5, 3, 0.5), (1600, 10, 9, 9)],
              extra=every)  # no rollback: 9 is below the floor of 10
    # A budget stop between evaluation steps (25) is evaluated but never rolled back: the run
    # ends with the collapsed model, and the report says so.
    write_run(tmp_path / "3_seed3", 3, 0.001, [(800, 5, 3, 0.005), (1000, 6, 95, 40)],
              extra=every, steps=[20, 25])
    text = write_report(tmp_path).read_text()
    row = table_row(text, "`0_seed0`")
    assert row[2:9] == ["no", "—", "—", "2,400", "2", "0.5", "2 at 1,600 (10 s)"]
    assert "rolled back to the best, at 1,600 sequences" in row[9]
    row = table_row(text, "`1_seed1`")
    assert row[2:9] == ["yes", "800", "5", "1,600", "3", "0.005", "3 at 800 (5 s)"]
    assert "its last evaluation (40 bit errors per sequence) rolled back" in row[9]
    row = table_row(text, "`2_seed2`")
    assert row[2:10] == ["no", "—", "—", "1,600", "9", "9", "3 at 800 (5 s)", ""]
    row = table_row(text, "`3_seed3`")
    assert row[2:10] == ["no", "—", "—", "1,000", "95", "40", "3 at 800 (5 s)", ""]
    listed = text.split("## Runs not solved or not read")[1]
    assert "0.5 bit errors per sequence after 2,400" in listed


def test_a_run_that_averages_its_weights_is_replayed_from_the_trained_weights_errors(
        tmp_path) -> None:
    """With an average of the weights the guard watches the trained weights' bit errors
    (``trained_bit_errors``): a collapse there (copy's default: past 10 x the best and 10)
    rolls back though the averaged figures rose little, and a rise of the averaged figures
    alone does not."""
    extra = ("train.eval_every=10", "train.ema_decay=0.9")
    header = f"{HEADER},trained_bit_errors"
    write_run(tmp_path / "0_seed0", 0, 0.001, [(800, 5, 30, 5), (1600, 10, 20, 2),
                                               (2400, 15, 25, 3)],
              extra=extra, trained=[5, 2, 60], header=header)  # the trained weights collapsed
    write_run(tmp_path / "1_seed1", 1, 0.001, [(800, 5, 30, 5), (1600, 10, 20, 2),
                                               (2400, 15, 90, 40)],
              extra=extra, trained=[5, 2, 3], header=header)  # only the average rose: kept
    text = write_report(tmp_path).read_text()
    row = table_row(text, "`0_seed0`")
    assert row[5:8] == ["2,400", "20", "2"]
    assert "rolled back to the best, at 1,600 sequences" in row[9]
    assert table_row(text, "`1_seed1`")[5:10] == ["2,400", "90", "40", "20 at 1,600 (10 s)", ""]


def test_the_lowest_held_out_cost_is_found_wherever_it_came(tmp_path) -> None:
    """A run judged by its best evaluation (dynamic N-grams: no solve, a noisy cost near 133
    bits): the lowest cost of any row, with its sequences and seconds, beside the last one,
    costs from 100 bits on to two decimals."""
    for seed, costs in enumerate([(180.0, 134.59, 136.3), (170.0, 133.987, 134.1)]):
        write_run(tmp_path / f"{seed}_seed{seed}", seed, 0.001,
                  [(1000 * (i + 1), 60 * (i + 1), c, 50) for i, c in enumerate(costs)],
                  extra=("train.solved_bit_errors=null",))
    text = write_report(tmp_path).read_text()
    assert table_row(text, "A")[5:] == ["135.20 (134.65–135.75)", "134.29 (134.14–134.44)"]
    assert table_row(text, "`0_seed0`")[6:9] == ["136.30", "50", "134.59 at 2,000 (120 s)"]
    assert table_row(text, "`1_seed1`")[6:9] == ["134.10", "50", "133.99 at 2,000 (120 s)"]
    # A run whose last evaluation was not finite still has its lowest cost counted.
    write_run(tmp_path / "2_seed2", 2, 0.001, [(1000, 60, 1500.0, 50), (2000, 120, 135.0, 50),
                                               (3000, 180, math.nan, 50)],
              extra=("train.solved_bit_errors=null",))
    text = write_report(tmp_path).read_text()
    assert table_row(text, "A")[5:] == ["135.20 (134.65–135.75)", "134.59 (134.29–134.80)"]
    assert table_row(text, "`2_seed2`")[6:9] == ["nan", "50", "135.00 at 2,000 (120 s)"]


def test_the_generalisation_table_names_the_weights_it_evaluated(tmp_path) -> None:
    """``ntm.evaluate --best`` writes ``best.pt`` in the last column: the table says whose
    weights its medians are of, and when a group mixes them."""
    rows = [(1000, 10, 2, 0.005)]
    for seed in (0, 1):
        run = write_run(tmp_path / f"{seed}_seed{seed}", seed, 0.001, rows)
        (run / "generalisation.csv").write_text(
            "size,cost,bit_errors,sequences,checkpoint\n20,1.0,0.1,100,best.pt\n")
    assert "of the evaluated runs, the weights of `best.pt`;" in write_report(tmp_path).read_text()
    (tmp_path / "1_seed1" / "generalisation.csv").write_text(
        "size,cost,bit_errors,sequences,checkpoint\n20,1.0,0.1,100,checkpoint.pt\n")
    assert "mixed: the weights of `best.pt` for some runs" in write_report(tmp_path).read_text()


def test_unsolved_crashed_and_unreadable_runs_are_listed_with_the_reason(sweep) -> None:
    listed = (sweep / "report.md").read_text().split("## Runs not solved or not read")[1]
    items = {line.split("`")[1]: line for line in listed.splitlines() if line.startswith("- ")}
    assert sorted(items) == ["3_lr1_seed3", "5_lr2_seed1", "6_lr2_seed2", "7_lr2_seed3"]
    assert "not solved within its budget: 6 bit errors per sequence after 4,000" in (
        items["3_lr1_seed3"])
    assert "stopped before solving and before its budget" in items["5_lr2_seed1"]
    assert "cut short" in items["5_lr2_seed1"]
    assert "no evaluation in metrics.csv" in items["6_lr2_seed2"]
    assert "not read: no config.yaml" in items["7_lr2_seed3"]


def test_generalisation_table_per_size(sweep) -> None:
    text = (sweep / "report.md").read_text()
    group_1 = text.split("## A. ")[1].split("## B. ")[0]
    assert table_row(group_1, "20") == ["20", "3", "100", "1 (0.75–1.25)", "0.2 (0.15–0.25)"]
    assert table_row(group_1, "40") == ["40", "3", "100", "20 (15–25)", "4 (3–5)"]
    assert "Generalisation" not in text.split("## B. ")[1]  # group 2 was not evaluated


def test_figures_are_written_and_linked(sweep) -> None:
    text = (sweep / "report.md").read_text()
    for name in ("curves.png", "group_A_curves.png", "group_B_curves.png"):
        assert f"(report/{name})" in text
        assert (sweep / "report" / name).read_bytes()[:4] == b"\x89PNG"


def test_the_report_names_the_task_and_the_budget(sweep) -> None:
    text = (sweep / "report.md").read_text()
    assert ("Task: `copy`. Budget per run: `train.max_sequences` = `4,000` sequences, "
            "`train.max_minutes` = `none`;") in text


def test_group_labels_are_letters_keyed_to_their_settings() -> None:
    assert [group_name(i) for i in (0, 1, 25, 26)] == ["A", "B", "Z", "G27"]


def test_figures_keep_the_legend_off_the_data_and_draw_single_evaluations(sweep) -> None:
    """Long settings labels, many groups: no layout warning; the legends are the figure's
    (outside the axes) and hold the short labels; a run evaluated once is a marker."""
    groups, _ = group_runs([read_run(p) for p in find_run_dirs(sweep)])
    for group in groups:
        group.label = ", ".join(f"model.some_long_setting_{k}=value" for k in range(12))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = plot_groups([*groups, *groups, *groups], sweep / "many.png")
        single = plot_group(groups[1], sweep / "single.png", "B")
    assert all(ax.get_legend() is None for ax in fig.axes)
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == ["A", "B", "C", "D", "E", "F"]
    assert single.get_suptitle().startswith("Group B: ")
    once = [line for line in single.axes[0].lines if len(line.get_xdata()) == 1
            and line.get_marker() == "."]
    assert len(once) == 2  # runs 4 and 5 of group B were evaluated once


def test_curves_hold_a_stopped_runs_last_value() -> None:
    names = ("sequences", "wall_seconds", "eval_cost", "eval_bit_errors")
    runs = [Run(Path(f"seed{seed}"), {"seed": seed},
                {name: np.array([r[i] for r in rows], dtype=float)
                 for i, name in enumerate(names)})
            for seed, rows in LR1.items()]
    x, cost = carried_forward(runs, "eval_cost")
    assert x.tolist() == [500, 1000, 1500, 2000, 3000, 4000]
    nan = math.nan
    expected = [[40, 2, 2, 2, 2, 2],  # solved at 1000: holds 2
                [50, 30, 10, 1, 1, 1],
                [nan, 45, 45, 20, 8, 4],  # first evaluated at 1000
                [nan, 60, 60, 55, 50, 44]]
    np.testing.assert_array_equal(cost, np.array(expected, dtype=float))
    assert np.nanmedian(cost[:, -1]) == 3  # the final costs 2, 1, 4, 44
    assert np.nanmedian(cost[:, 0]) == 45  # only the two runs evaluated by then


def test_quartiles_by_hand() -> None:
    assert quartiles([1, 2, 4, 44]) == (1.75, 3.0, 14.0)
    assert quartiles([7]) == (7.0, 7.0, 7.0)
    assert quartiles([]) is None


def test_groups_ignore_settings_that_do_not_change_what_is_learned(tmp_path) -> None:
    write_run(tmp_path / "a", 0, 0.001, LR1[0])
    write_run(tmp_path / "b", 1, 0.001, LR1[1])
    config = OmegaConf.load(tmp_path / "b" / "config.yaml")
    config.train.threads, config.train.progress = 7, False  # e.g. resumed with other threads
    config.train.max_sequences, config.train.max_minutes = 8000, 30  # ... or a longer budget
    OmegaConf.save(config, tmp_path / "b" / "config.yaml")
    groups, swept = group_runs([read_run(p) for p in find_run_dirs(tmp_path)])
    assert swept == [] and len(groups) == 1 and groups[0].label == "all runs"
    assert "`train.max_sequences` = `4,000` or `8,000` sequences" in write_report(
        tmp_path).read_text()


def test_a_group_is_labelled_only_by_the_keys_its_runs_have(tmp_path) -> None:
    write_run(tmp_path / "a", 0, 0.001, LR1[0])  # train.curriculum=null
    write_run(tmp_path / "b", 0, 0.001, LR1[1])
    config = OmegaConf.load(tmp_path / "b" / "config.yaml")
    config.train.curriculum = {"max_length": 5}  # flattened: train.curriculum.max_length only
    OmegaConf.save(config, tmp_path / "b" / "config.yaml")
    groups, _ = group_runs([read_run(p) for p in find_run_dirs(tmp_path)])
    assert sorted(group.label for group in groups) == ["train.curriculum.max_length=5",
                                                       "train.curriculum=None"]


def test_a_single_run_and_a_folder_of_sweeps(tmp_path) -> None:
    run = write_run(tmp_path / "sweeps" / "a" / "0", 0, 0.001, LR1[0])
    write_run(tmp_path / "sweeps" / "b" / "0", 0, 0.002, LR1[1])
    text = write_report(run).read_text()
    assert "1 run in 1 group." in text and table_row(text, "`.`")[2] == "yes"
    text = write_report(tmp_path / "sweeps").read_text()
    assert "2 runs in 2 groups." in text and "`a/0`" in text and "`b/0`" in text


def test_command_line_errors_are_one_sentence(tmp_path, capsys) -> None:
    for folder, words in ((tmp_path / "missing", "does not exist"),
                          (tmp_path, "holds no run directory")):
        with pytest.raises(SystemExit) as exit_info:
            main([str(folder)])
        assert exit_info.value.code == 2
        message = capsys.readouterr().err.strip()
        assert message.startswith("error: ") and words in message
        assert_one_sentence(message.removeprefix("error: "), str(folder))


def test_command_line_writes_the_report(sweep, capsys) -> None:
    main([str(sweep)])
    assert capsys.readouterr().out.strip() == f"Wrote {sweep / 'report.md'}"
