"""Seed statistics of a sweep: ``python -m ntm.report SWEEP_DIR`` (or ``ntm-report``).

Reads every run directory at or under SWEEP_DIR (``ntm.results.sweep``), groups the runs by the
settings that differ between them other than the seed, and writes ``SWEEP_DIR/report.md`` with
figures in ``SWEEP_DIR/report/``: for each group the runs solved out of the total, the median
and quartiles of sequences and wall seconds to solve and of the final and the lowest held-out
cost, the median learning curve with a quartile band, and, for runs evaluated by
``ntm.evaluate``, a generalisation table. Runs that did not solve, crashed or cannot be read are
listed with the reason; none of them stops the report.
"""

from __future__ import annotations

import argparse
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # servers have no display: never a desktop backend

import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from ntm.experiment.checkpoint import BEST_NAME  # noqa: E402
from ntm.experiment.errors import exit_with  # noqa: E402
from ntm.results.numbers import cost, number  # noqa: E402
from ntm.results.plot import log_scale_if_it_helps  # noqa: E402
from ntm.results.sweep import NOT_SETTINGS, Group, Run, find_run_dirs, group_runs, read_run  # noqa: E402

__all__ = ["REPORT_NAME", "FIGURES_DIR", "quartiles", "spread", "carried_forward",
           "group_name", "plot_group", "write_report", "main"]

REPORT_NAME = "report.md"
FIGURES_DIR = "report"
_CURVES = (("eval_cost", "Held-out cost", "bits per sequence"),
           ("eval_bit_errors", "Held-out bit errors", "wrong bits per sequence"))


def quartiles(values: Sequence[float]) -> tuple[float, float, float] | None:
    """First quartile, median and third quartile (numpy's default: linear interpolation
    between the sorted values), or None for no values."""
    if len(values) == 0:
        return None
    q1, median, q3 = np.percentile(np.asarray(values, dtype=float), [25, 50, 75])
    return float(q1), float(median), float(q3)


def spread(values: Sequence[float], form: Callable[[float], str] = number) -> str:
    """``median (Q1–Q3)`` written with ``form``, or a dash for no values."""
    q = quartiles(values)
    return "—" if q is None else f"{form(q[1])} ({form(q[0])}–{form(q[2])})"


def carried_forward(runs: Sequence[Run], column: str) -> tuple[np.ndarray, np.ndarray]:
    """Every run's ``column`` on a common axis of sequences seen (each evaluation of any run):
    returns x [points] and values [runs, points]. A run that stopped (solved, out of budget or
    crashed) holds its last value to the right of its end; before its first evaluation it has
    none (NaN). Each run's evaluations are in the order ``ntm.train`` writes them (increasing
    sequences)."""
    x = np.unique(np.concatenate([run.metrics["sequences"] for run in runs]))
    values = np.full((len(runs), len(x)), np.nan)
    for i, run in enumerate(runs):
        last_at_or_before = np.searchsorted(run.metrics["sequences"], x, side="right") - 1
        seen = last_at_or_before >= 0
        values[i, seen] = run.metrics[column][last_at_or_before[seen]]
    return x, values


def plot_group(group: Group, path: Path | None = None, name: str = "") -> Figure:
    """The group's median held-out cost and bit errors against sequences seen, with the band
    between the quartiles across runs and every run's own curve faint (a dot where it solved;
    a run with one evaluation is a marker). The legend is below the axes, off the data;
    ``name`` (A, B, ...) heads the title."""
    runs = [run for run in group.runs if run.evaluations]
    fig = Figure(figsize=(11, 4.6), layout="constrained")
    for ax, (column, title, unit) in zip(fig.subplots(1, 2, sharex=True), _CURVES, strict=True):
        x, values = carried_forward(runs, column)
        q1, median, q3 = np.nanpercentile(values, [25, 50, 75], axis=0)
        for run in runs:
            ax.plot(run.metrics["sequences"], run.metrics[column], color="0.6", lw=0.7,
                    alpha=0.6, marker="." if run.evaluations == 1 else None)
            outcome = run.outcome()
            if outcome.solved:
                at = np.flatnonzero(run.metrics["sequences"] == outcome.solved_sequences)[0]
                ax.plot(outcome.solved_sequences, run.metrics[column][at], "o", color="C2",
                        markersize=4)
        ax.fill_between(x, q1, q3, color="C0", alpha=0.25, lw=0, label="quartiles across runs")
        ax.plot(x, median, "o-", color="C0", lw=2, markersize=3,
                label=f"median of {len(runs)} runs")
        ax.plot([], [], color="0.6", lw=0.7, label="each run")
        if any(run.outcome().solved for run in runs):
            ax.plot([], [], "o", color="C2", markersize=4, label="solved")
        log_scale_if_it_helps(ax, values[np.isfinite(values)])
        ax.set(title=title, xlabel="Sequences seen", ylabel=unit)
        ax.grid(alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=len(labels), fontsize=8)
    heading = f"Group {name}: {group.label}" if name else group.label
    fig.suptitle(textwrap.shorten(heading, 150, placeholder=" ... (settings in report.md)"),
                 fontsize=10)
    if path is not None:
        fig.savefig(path, dpi=100)
    return fig


def plot_groups(groups: Sequence[Group], path: Path) -> Figure:
    """Every group's median held-out cost with its quartile band, on one pair of axes; the
    groups are labelled A, B, ... (``group_name``) in a legend beside the axes."""
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    for ax, (column, title, unit) in zip(fig.subplots(1, 2, sharex=True), _CURVES, strict=True):
        shown = []
        for i, group in enumerate(groups):
            runs = [run for run in group.runs if run.evaluations]
            if not runs:
                continue
            x, values = carried_forward(runs, column)
            q1, median, q3 = np.nanpercentile(values, [25, 50, 75], axis=0)
            ax.fill_between(x, q1, q3, color=f"C{i % 10}", alpha=0.2, lw=0)
            ax.plot(x, median, "o-", color=f"C{i % 10}", lw=2, markersize=3,
                    label=group_name(i))
            shown.append(values[np.isfinite(values)])
        if shown:
            log_scale_if_it_helps(ax, *shown)
        ax.set(title=f"{title}: median and quartiles", xlabel="Sequences seen", ylabel=unit)
        ax.grid(alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right upper", fontsize=8,
               title="group\n(report.md)", title_fontsize=8)
    fig.savefig(path, dpi=100)
    return fig


def group_name(index: int) -> str:
    """The short label of the ``index``-th group (from 0) in tables and figures: A, B, ... Z,
    then G27, G28, ...; report.md's summary table maps each to its settings."""
    return chr(ord("A") + index) if index < 26 else f"G{index + 1}"


def _budget(runs: Sequence[Run]) -> str:
    """The task and budget of the readable runs, each distinct value once."""
    readable = [run for run in runs if run.config is not None]

    def values(key: str) -> str:
        found = []
        for run in readable:
            node = run.config.get(key)  # flattened: dotted keys
            text = "none" if node is None else number(node) if isinstance(node, int | float) \
                else str(node)
            if text not in found:
                found.append(text)
        return " or ".join(f"`{v}`" for v in found) or "unknown"

    return (f"Task: {values('task.name')}. Budget per run: `train.max_sequences` = "
            f"{values('train.max_sequences')} sequences, `train.max_minutes` = "
            f"{values('train.max_minutes')}; solved at held-out bit errors per sequence "
            f"at or below `train.solved_bit_errors` = {values('train.solved_bit_errors')}.")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'s' * (n != 1)}"


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|")


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]


def _summary_row(index: int, group: Group) -> list[object]:
    outcomes = [run.outcome() for run in group.runs]
    solved = [o for o in outcomes if o.solved]
    evaluated = [o for o in outcomes if np.isfinite(o.final_cost)]
    return [group_name(index), group.label, f"{len(solved)} of {len(outcomes)}",
            spread([o.solved_sequences for o in solved]),
            spread([o.solved_seconds for o in solved]),
            spread([o.final_cost for o in evaluated], cost),
            spread([o.best_cost for o in outcomes if np.isfinite(o.best_cost)], cost)]


def _run_rows(group: Group, root: Path) -> list[list[object]]:
    """One row per run; why a run is not solved is listed at the end of the report."""
    rows = []
    for run in group.runs:
        o = run.outcome()
        solved = (number(o.solved_sequences), number(o.solved_seconds)) if o.solved else ("—",) * 2
        last = ((number(o.sequences), cost(o.final_cost), number(o.final_bit_errors),
                 f"{cost(o.best_cost)} at {number(o.best_sequences)} ({number(o.best_seconds)} s)")
                if run.evaluations else ("—",) * 4)
        rows.append([_relative(run, root), run.seed, "yes" if o.solved else "no", *solved,
                     *last, "; ".join([*run.problems, o.note] if o.note else run.problems)])
    return rows


def _relative(run: Run, root: Path) -> str:
    return f"`{run.path.relative_to(root).as_posix()}`"


def _generalisation(group: Group) -> list[str]:
    """Per size: runs, sequences each, median (quartiles) of cost and bit errors."""
    tables = [run.generalisation for run in group.runs if run.generalisation is not None]
    if not tables:
        return []
    rows = []
    for size in sorted({float(s) for t in tables for s in t["size"]}):
        at = [(t["cost"][i], t["bit_errors"][i], t["sequences"][i])
              for t in tables for i in np.flatnonzero(t["size"] == size)]
        costs, errors, sequences = (np.array(column) for column in zip(*at, strict=True))
        counted = (number(sequences[0]) if (sequences == sequences[0]).all()
                   else f"{number(sequences.min())}–{number(sequences.max())}")
        rows.append([number(size), len(at), counted, spread(costs), spread(errors)])
    # ntm.evaluate --best writes best.pt in its last column; older files have no column.
    best = {BEST_NAME in t["checkpoint"] for t in tables}
    weights = ("the weights of `best.pt`" if best == {True} else "the last checkpoints' weights"
               if best == {False} else "mixed: the weights of `best.pt` for some runs, the last "
               "checkpoint's for the others")
    return ["", f"Generalisation (`generalisation.csv` of the evaluated runs, {weights}; "
                "median (Q1–Q3) across runs):", "",
            *_table(["size", "runs", "sequences per run", "held-out cost (bits/seq)",
                     "bit errors per sequence"], rows)]


HOW_TO_READ = """\
How to read it: a run is solved when the held-out bit errors per sequence of the model it ended
with are at or below its `train.solved_bit_errors`; it solved at the first evaluation at or
below that threshold, and the sequences and wall seconds (of training, as in `metrics.csv`) to
solve are taken there. Each cell is the median (first quartile–third quartile) across runs, with
numpy's default quartiles (linear interpolation between the sorted values): over the solved runs
for the time to solve, over every run with an evaluation for the final held-out cost (its last
evaluation, solved or not; after a rollback at the last evaluation, the best evaluation's, whose
model the run ended with), and for the lowest held-out cost of any evaluation (the weights the
run keeps in `best.pt`; what dynamic N-grams, which has no solve, is judged by), with the
sequences and wall seconds at which it came. In the curves a run that stopped (solved, out of
budget or crashed) holds its last value from its end on, so the median and band at a number of
sequences are over every run evaluated by then; the faint lines are the runs themselves, a dot
where one solved. Groups are the runs that share every setting of `config.yaml` except
{not_settings}.
"""


def write_report(root: str | Path) -> Path:
    """Writes ``report.md`` and its figures into ``root``; returns the report's path.

    Raises ``FileNotFoundError`` when ``root`` is not a directory or holds no run directory.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"sweep directory {root} does not exist; give a directory "
                                "that holds run directories made by ntm.train.")
    runs = [read_run(path) for path in find_run_dirs(root)]
    if not runs:
        raise FileNotFoundError(f"{root} holds no run directory (a folder with config.yaml "
                                "and metrics.csv made by ntm.train).")
    groups, swept = group_runs(runs)
    unreadable = [run for run in runs if run.config is None]
    figures = root / FIGURES_DIR
    figures.mkdir(exist_ok=True)

    lines = ["# Sweep report", "",
             f"`{root}`: {_count(len(runs) - len(unreadable), 'run')} in "
             f"{_count(len(groups), 'group')}"
             + (f"; {_count(len(unreadable), 'run')} could not be read (listed at the end)."
                if unreadable else "."),
             _budget(runs),
             ("Settings that differ between the groups: "
              + ", ".join(f"`{key}`" for key in swept) + "." if swept
              else "Every run has the same settings but the seed."), "",
             *_table(["group", "settings", "solved", "sequences to solve",
                      "wall seconds to solve", "final held-out cost (bits/seq)",
                      "lowest held-out cost (bits/seq)"],
                     [_summary_row(i, g) for i, g in enumerate(groups)]), "",
             HOW_TO_READ.format(not_settings=", ".join(f"`{k}`" for k in NOT_SETTINGS))]
    if len(groups) > 1:
        plot_groups(groups, figures / "curves.png")
        lines += [f"![median learning curves of every group]({FIGURES_DIR}/curves.png)", ""]
    for i, group in enumerate(groups):
        seeds = ", ".join(str(run.seed) for run in group.runs)
        label = group_name(i)
        lines += [f"## {label}. {group.label}", "",
                  "Settings: " + (", ".join(f"`{k}={v}`" for k, v in group.settings.items())
                                  or "the same for every run") + f". Seeds: {seeds}.", "",
                  *_table(["run", "seed", "solved", "sequences to solve",
                           "wall seconds to solve", "sequences seen", "final held-out cost",
                           "final bit errors", "lowest held-out cost (at sequences, seconds)",
                           "note"], _run_rows(group, root))]
        if any(run.evaluations for run in group.runs):
            name = f"group_{label}_curves.png"
            plot_group(group, figures / name, label)
            lines += ["", f"![learning curves of group {label}]({FIGURES_DIR}/{name})"]
        lines += [*_generalisation(group), ""]
    not_solved = [run for g in groups for run in g.runs if not run.outcome().solved]
    if not_solved or unreadable:
        lines += ["## Runs not solved or not read", ""]
        for run in not_solved:
            lines.append(f"- {_relative(run, root)}: "
                         + "; ".join([run.outcome().reason, *run.problems]) + ".")
        for run in unreadable:
            lines.append(f"- {_relative(run, root)}: not read: "
                         + "; ".join(run.problems) + ".")
        lines.append("")
    path = root / REPORT_NAME
    path.write_text("\n".join(lines))
    return path


def main(argv: Sequence[str] | None = None) -> None:
    """Console entry point ``ntm-report``."""
    parser = argparse.ArgumentParser(prog="ntm-report", description=__doc__.split("\n")[0])
    parser.add_argument("sweep_dir", help="a sweep, a run, or any folder of them (searched "
                                          "recursively for run directories)")
    args = parser.parse_args(argv)
    try:
        path = write_report(args.sweep_dir)
    except FileNotFoundError as e:
        exit_with(e)
    print(f"Wrote {path}")


if __name__ == "__main__":
    main()
