"""Generalisation: ``python -m ntm.evaluate RUN_DIR [key=value ...] [--sizes ...] [--best]``.

Evaluates a trained run on held-out sequences of each of a range of task sizes (copy:
lengths; associative recall: items; repeat copy: repeats, or lengths with the override
``task.size_axis=length``; the defaults are the task's ``generalisation_sizes``),
also beyond the training range, and writes into the run directory:

- ``generalisation.csv``: size, cost and bit errors per sequence, number of sequences, the
  Bayes-optimal cost where the task has one (dynamic N-grams), the memory size (NTMs), the
  overrides given and the checkpoint evaluated (``checkpoint.pt``, the last weights, or with
  ``--best`` ``best.pt``, those of the run's lowest held-out cost);
- ``plots/generalisation.png``: cost and bit errors against size, beside the paper's curve
  where docs/paper.md gives one;
- ``plots/memory_use_size<S>.png``: for an NTM, one episode of the longest size.

Overrides change the run's config for the evaluation: ``memory.N=256`` gives a longer copy
room (an NTM's memory size is not a trained parameter; a learned initial memory grows by
locations that start from its mean row; a learned start weighting by locations no head starts
on). An NTM that trained with fewer than 128 locations and a memory that is not learned
(copy's default trains in 21) is evaluated with ``memory.N=128``, the paper's, unless
``memory.N`` is given: longer sequences need the rows.
Sequences of size S are drawn from the seed ``--seed + S`` (default ``train.eval_seed``), so
every run evaluated with the same seed sees the same sequences.
"""

from __future__ import annotations

import argparse
import csv
import logging
import math
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ntm.experiment import checkpoint
from ntm.experiment.build import resolve_device
from ntm.experiment.config import ConfigError
from ntm.experiment.errors import exit_with
from ntm.experiment.metrics import evaluate_batches, optimal_cost_per_sequence, wrong_bits
from ntm.models.ntm import NTM
from ntm.models.transformer import SequenceTooLong, TransformerBaseline
from ntm.results.plot import PLOTS_DIR, log_scale_if_it_helps, plot_attention, plot_memory_use
from ntm.results.runs import (
    BEST_HELP,
    episode,
    load_run,
    memory_override,
    model_label,
    paper_model,
    run_config,
    trained_up_to,
)
from tasks import Batch, Task

__all__ = ["GENERALISATION_NAME", "FIELDS", "PAPER_CURVES", "evaluate_sizes", "main"]

log = logging.getLogger("ntm.evaluate")

GENERALISATION_NAME = "generalisation.csv"
FIELDS = ("size", "cost", "bit_errors", "sequences", "optimal_cost", "memory_N", "overrides",
          "checkpoint")

#: docs/paper.md: the paper's generalisation, bits per sequence (cost) by size, read off its
#: figures; keyed by (task, paper model name).
PAPER_CURVES: dict[tuple[str, str], dict[int, float]] = {
    ("associative_recall", "NTM-FF"): {6: 0.0, 10: 0.0, 15: 1.5, 20: 8.0},
    ("associative_recall", "NTM-LSTM"): {6: 0.0, 10: 1.8, 15: 4.8, 20: 7.0},
    ("associative_recall", "LSTM"): {6: 2.0, 10: 36.5, 15: 40.0, 20: 38.5},
}


def _batches(task: Task, size: int, sequences: int, batch_size: int, seed: int,
             device: torch.device) -> Iterator[Batch]:
    """``sequences`` sequences of ``size`` from seed ``seed + size``, drawn at once (so the
    batch size cannot change them) and given out ``batch_size`` at a time."""
    try:
        drawn = task.sample_batch(torch.Generator().manual_seed(seed + size), sequences, size)
    except ValueError as e:  # a size the task cannot lay out
        raise ConfigError(f"--sizes has {size}, which the task refuses: {e}") from None
    for start in range(0, sequences, batch_size):
        yield drawn.part(slice(start, start + batch_size)).to(device)


def evaluate_sizes(model: nn.Module, task: Task, sizes: Sequence[int], sequences: int = 1000,
                   batch_size: int = 100, seed: int = 0) -> list[dict[str, float]]:
    """The mean cost and bit errors per sequence of ``model`` at each size.

    Args:
        model: a trained model; evaluated on its own device, in eval mode.
        task: draws the sequences; ``size`` as in ``Task.sample_batch``.
        sizes: the sizes to evaluate, each on ``sequences`` sequences from seed ``seed + size``.
        batch_size: sequences per forward pass.

    Returns:
        One row per size: size, cost, bit_errors, sequences, optimal_cost (NaN when the task
        has no optimal predictor).
    """
    device = next(model.parameters()).device
    model.eval()
    rows = []
    for number, size in enumerate(sizes, 1):
        # Progress as it goes (a large size takes minutes); the results are the caller's table.
        log.info("%s %d (%d of %d): %d sequences ...", task.size_name, size, number, len(sizes),
                 sequences)
        batches = list(_batches(task, size, sequences, batch_size, seed, device))
        try:
            result = evaluate_batches(model, batches)
        except SequenceTooLong as e:  # learned positions end at the training length
            raise ConfigError(f"--sizes has {size}, which this model cannot run: {e}") from None
        optimal = optimal_cost_per_sequence(task, batches)
        optimal_cost = math.nan if optimal is None else optimal
        rows.append({"size": size, **result, "optimal_cost": optimal_cost})
        log.debug("size %d: cost %.3f bits/seq%s, %.3f bit errors/seq (%d sequences)", size,
                 result["cost"], "" if math.isnan(optimal_cost)
                 else f" (Bayes-optimal {optimal_cost:.3f})", result["bit_errors"],
                 result["sequences"])
    return rows


def write_csv(rows: list[dict[str, float]], path: Path) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, FIELDS)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if isinstance(v, float) and math.isnan(v) else v
                             for k, v in row.items()})


def plot_generalisation(rows: list[dict[str, float]], path: Path, *, title: str,
                        trained_up_to: int | None = None,
                        paper: dict[int, float] | None = None):
    """Cost and bit errors per sequence against size, the paper's cost curve beside ours;
    saved to ``path``; returns the figure."""
    from matplotlib.figure import Figure

    sizes = np.array([r["size"] for r in rows])
    fig = Figure(figsize=(10, 4), layout="constrained")
    cost_ax, error_ax = fig.subplots(1, 2, sharex=True)
    cost_ax.plot(sizes, [r["cost"] for r in rows], "o-", label="this run")
    if paper:
        cost_ax.plot(list(paper), list(paper.values()), "s--", color="0.4", label="paper")
    optimal = [r["optimal_cost"] for r in rows]
    if not all(math.isnan(v) for v in optimal):
        cost_ax.plot(sizes, optimal, "^:", color="C3", label="Bayes-optimal")
    error_ax.plot(sizes, [r["bit_errors"] for r in rows], "o-", color="C2", label="this run")
    cost_ax.set(title="Cost", ylabel="bits per sequence")
    error_ax.set(title="Bit errors", ylabel="wrong bits per sequence")
    costs = [r["cost"] for r in rows] + list((paper or {}).values())
    log_scale_if_it_helps(cost_ax, np.array(costs))  # log or symlog when values span decades
    log_scale_if_it_helps(error_ax, np.array([r["bit_errors"] for r in rows]))
    for ax in (cost_ax, error_ax):
        if ax.get_yscale() == "linear":
            ax.set_ylim(bottom=0)
        ax.set_xlabel("size")
        if trained_up_to is not None:
            ax.axvline(trained_up_to, color="0.6", linestyle=":", label="largest trained size")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.savefig(path, dpi=100)
    return fig


def _parse_sizes(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        return [int(part) for part in text.split(",")]
    except ValueError:
        raise ConfigError(f"--sizes is {text!r}; it must be integers separated by commas "
                          "such as 10,20,50.") from None


def main(argv: Sequence[str] | None = None) -> None:
    """Console entry point ``ntm-evaluate`` (``python -m ntm.evaluate``)."""
    parser = argparse.ArgumentParser(
        prog="ntm-evaluate",
        description="Evaluate a trained run across task sizes; writes RUN_DIR/generalisation.csv "
                    "and pictures into RUN_DIR/plots/.")
    parser.add_argument("run_dir", type=Path, help="a run directory written by ntm.train")
    parser.add_argument("overrides", nargs="*", metavar="key=value",
                        help="config changes for the evaluation, e.g. memory.N=256")
    parser.add_argument("--sizes", default=None, metavar="S,S,...",
                        help="task sizes, comma-separated (default: the task's "
                             "generalisation_sizes)")
    parser.add_argument("--sequences", type=int, default=1000, help="per size (default 1000)")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--seed", type=int, default=None,
                        help="sequences of size S come from seed+S (default train.eval_seed)")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--best", action="store_true", help=BEST_HELP)
    parser.add_argument("--no-pictures", action="store_true")
    args = parser.parse_intermixed_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        for name in ("sequences", "batch_size"):
            if getattr(args, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} is {getattr(args, name)}; "
                                  "it must be at least 1.")
        if args.device == "cuda" and not torch.cuda.is_available():
            raise ConfigError("--device is cuda but no CUDA device is available; use auto or cpu.")
        sizes = _parse_sizes(args.sizes)
        written = run_config(args.run_dir)  # the run's own settings, before any override
        added = memory_override(written, args.overrides)
        if added:
            log.info("%s for this evaluation: the run trained with fewer locations "
                     "(give memory.N=... to choose).", added[0])
            args.overrides = [*args.overrides, *added]
        cfg, task, model = load_run(args.run_dir, args.overrides, best=args.best)
        trained_size = trained_up_to(written, cfg)  # the run's own range, on cfg's axis
        sizes = sizes or list(task.generalisation_sizes)
        seed = cfg.train.eval_seed if args.seed is None else args.seed
        if not 0 <= seed < 2**63:
            raise ConfigError(f"--seed is {seed}; it must be an integer in [0, 2**63).")
        model.to(resolve_device(args.device))
        rows = evaluate_sizes(model, task, sizes, args.sequences, args.batch_size, seed)
    except (ConfigError, checkpoint.CheckpointError) as e:
        exit_with(e)

    has_memory = isinstance(model, NTM)
    for row in rows:
        row["memory_N"] = cfg.memory.N if has_memory else ""
        row["overrides"] = " ".join(args.overrides)
        row["checkpoint"] = checkpoint.BEST_NAME if args.best else checkpoint.CHECKPOINT_NAME
    out = args.run_dir / GENERALISATION_NAME
    write_csv(rows, out)
    optimal = not math.isnan(rows[0]["optimal_cost"])
    print(f"{'size':>6} {'cost':>10} {'bit errors':>11}" + (f" {'optimal':>10}" if optimal else "")
          + f"   (bits per sequence, {args.sequences} sequences each)")
    for row in rows:
        print(f"{row['size']:>6} {row['cost']:>10.3f} {row['bit_errors']:>11.3f}"
              + (f" {row['optimal_cost']:>10.3f}" if optimal else ""))
    print(out)
    if args.no_pictures:
        return
    plots = args.run_dir / PLOTS_DIR
    plots.mkdir(exist_ok=True)
    name = f"{cfg.task.name}, {model_label(cfg)}, seed {cfg.seed}"
    name += f" ({checkpoint.BEST_NAME})" if args.best else ""
    memory = f"; memory.N = {cfg.memory.N}" if has_memory else ""
    plot_generalisation(
        rows, plots / "generalisation.png", trained_up_to=trained_size,
        paper=PAPER_CURVES.get((cfg.task.name, paper_model(cfg))),
        title=f"{name}: generalisation ({task.size_name}; trained up to {trained_size}{memory})")
    print(plots / "generalisation.png")
    if isinstance(model, TransformerBaseline):
        longest = max(sizes)
        batch, logits, trace = episode(model, task, 0, longest)
        errors = int(wrong_bits(logits, batch.targets, batch.mask).sum())
        path = plots / f"attention_size{longest}.png"
        plot_attention(batch, logits, trace, path,
                       title=f"{name}: one episode of size {longest} (seed 0), {errors} wrong bits")
        print(path)
    if has_memory:
        longest = max(sizes)
        batch, logits, trace = episode(model, task, 0, longest)
        errors = int(wrong_bits(logits, batch.targets, batch.mask).sum())
        path = plots / f"memory_use_size{longest}.png"
        plot_memory_use(batch, logits, trace, path,
                        title=f"{name}: one episode of size {longest} (seed 0, memory.N = "
                              f"{cfg.memory.N}), {errors} wrong bits")
        print(path)


if __name__ == "__main__":
    main()
