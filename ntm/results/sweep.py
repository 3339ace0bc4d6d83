"""The runs of a sweep: finding run directories under a folder, reading what each one holds,
how it ended, and grouping runs by the settings that differ between them other than the seed.

A run directory (written by ``ntm.train``) holds ``config.yaml`` (the resolved config),
``metrics.csv`` (one row per evaluation), ``checkpoint.pt`` and ``best.pt``; a Hydra job
directory also holds ``.hydra/overrides.yaml``, and an evaluated run ``generalisation.csv``
(``ntm.evaluate``: columns size, cost, bit_errors, sequences, and which checkpoint). Nothing
here raises on a damaged or half-written run: what is wrong is recorded in ``Run.problems`` in
words, for the report.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import OmegaConf

from ntm.experiment.checkpoint import CHECKPOINT_NAME
from ntm.experiment.metrics_log import METRICS_NAME, read_columns
from ntm.experiment.rollback import kept_evaluation
from ntm.experiment.sweep_failures import read_failure

__all__ = ["NOT_SETTINGS", "Run", "Outcome", "Group", "find_run_dirs", "read_run",
           "read_generalisation", "flatten", "group_runs"]

RUN_FILES = ("config.yaml", METRICS_NAME, CHECKPOINT_NAME)
#: The columns of ``metrics.csv`` (``METRICS_FIELDS``) a report reads.
METRICS_COLUMNS = ("sequences", "wall_seconds", "eval_cost", "eval_bit_errors")
GENERALISATION_COLUMNS = ("size", "cost", "bit_errors", "sequences")
# Keys that differ between runs without changing what they learn: never a group of their own.
# The budgets are among them: a run resumed with more sequences or minutes trained the same
# way, only longer (the report lists every budget its runs had).
NOT_SETTINGS = ("seed", "train.threads", "train.progress", "train.pictures", "train.plot_every",
                "train.compile_wrapper", "train.max_sequences", "train.max_minutes")


class _Unset:
    """What a key a run's config does not have reads as."""

    def __repr__(self) -> str:
        return "<unset>"


_UNSET = _Unset()
_SKIP = {"plots", "tensorboard", "report"}  # folders inside a run or a sweep that hold no runs


@dataclass
class Outcome:
    """How a run ended. ``solved``: the held-out bit errors per sequence of the model it ended
    with are at or below its ``train.solved_bit_errors``; it solved at the first evaluation at
    or below it (``solved_sequences``, ``solved_seconds``). ``reason`` says why an unsolved run
    is not. The model it ended with is its last evaluation's, unless that evaluation triggered
    a rollback (``train.rollback_factor``): then it is the best evaluation's, put back, and
    ``note`` says so; ``final_cost`` and ``final_bit_errors`` are that model's. ``best_cost``
    is the lowest held-out cost of any evaluation (the weights ``best.pt`` keeps), reached at
    ``best_sequences`` and ``best_seconds``: what a task without a solve (dynamic N-grams) is
    judged by."""

    solved: bool
    solved_sequences: float = math.nan
    solved_seconds: float = math.nan
    final_cost: float = math.nan
    final_bit_errors: float = math.nan
    sequences: float = math.nan  # at the last evaluation
    best_cost: float = math.nan
    best_sequences: float = math.nan
    best_seconds: float = math.nan
    reason: str = ""
    note: str = ""


@dataclass
class Run:
    """What one run directory holds; ``config`` is flattened (``flatten``), None if unreadable."""

    path: Path
    config: dict[str, Any] | None
    metrics: dict[str, np.ndarray]  # METRICS_COLUMNS and step (NaN where absent), one value
                                    #   per evaluation (maybe none)
    overrides: list[str] = field(default_factory=list)  # Hydra's, when it is a Hydra job
    generalisation: dict[str, np.ndarray] | None = None  # GENERALISATION_COLUMNS, by size
    problems: list[str] = field(default_factory=list)

    @property
    def seed(self) -> Any:
        return (self.config or {}).get("seed")

    @property
    def evaluations(self) -> int:
        return len(self.metrics["sequences"])

    def outcome(self) -> Outcome:
        """Solved or not, when and why, from the metrics and the run's own settings."""
        m, cfg = self.metrics, self.config or {}
        if not self.evaluations:
            return Outcome(False, reason="no evaluation in metrics.csv: it crashed, was killed "
                                         "or is still running before its first evaluation")
        threshold = cfg.get("train.solved_bit_errors")
        errors = m["eval_bit_errors"]
        # The guard watched the trained weights' errors where the run wrote them (an average
        # judged, train.ema_decay), the judged ones elsewhere.
        trained = m.get("trained_bit_errors", np.full(len(errors), np.nan))
        watched = np.where(np.isnan(trained), errors, trained)
        kept = kept_evaluation(watched.tolist(), cfg.get("train.rollback_factor"),
                               cfg.get("train.rollback_min_bit_errors", 1.0),
                               _guarded(m.get("step"), cfg.get("train.eval_every")))
        costs = m["eval_cost"]
        best = int(np.nanargmin(costs)) if np.isfinite(costs).any() else kept
        last = Outcome(False, final_cost=float(costs[kept]),
                       final_bit_errors=float(errors[kept]), sequences=float(m["sequences"][-1]),
                       best_cost=float(costs[best]), best_sequences=float(m["sequences"][best]),
                       best_seconds=float(m["wall_seconds"][best]))
        if kept != len(errors) - 1:
            last.note = (f"its last evaluation ({errors[-1]:.3g} bit errors per sequence) rolled "
                         f"back to the best, at {int(m['sequences'][kept]):,} sequences, whose "
                         "figures are given")
        if threshold is None:
            last.reason = "train.solved_bit_errors is null: there is no threshold to solve"
        elif errors[kept] <= threshold:
            first = int(np.flatnonzero(errors <= threshold)[0])
            last.solved = True
            last.solved_sequences = float(m["sequences"][first])
            last.solved_seconds = float(m["wall_seconds"][first])
        elif _budget_spent(cfg, m):
            last.reason = (f"not solved within its budget: {errors[kept]:.3g} bit errors per "
                           f"sequence after {int(m['sequences'][-1]):,} sequences "
                           f"(threshold {threshold:g})")
        else:
            last.reason = (f"stopped before solving and before its budget (crashed, killed or "
                           f"still running): {errors[kept]:.3g} bit errors per sequence after "
                           f"{int(m['sequences'][-1]):,} sequences")
        return last


def _guarded(steps: np.ndarray | None, eval_every: Any) -> list[bool] | None:
    """Which rows' evaluations the run's schedules and rollback saw: those at a multiple of
    ``train.eval_every`` (a budget stop between two evaluates but is not seen); None (all)
    where ``metrics.csv`` has no steps or the config no ``eval_every``."""
    if steps is None or not isinstance(eval_every, int) or eval_every < 1:
        return None
    return [not math.isfinite(s) or int(s) % eval_every == 0 for s in steps]


def _budget_spent(cfg: dict[str, Any], m: dict[str, np.ndarray]) -> bool:
    max_sequences, max_minutes = cfg.get("train.max_sequences"), cfg.get("train.max_minutes")
    return ((max_sequences is not None and m["sequences"][-1] >= max_sequences)
            or (max_minutes is not None and m["wall_seconds"][-1] >= 60 * max_minutes))


@dataclass
class Group:
    """Runs that share every setting but the seed (and ``NOT_SETTINGS``)."""

    settings: dict[str, Any]  # the swept keys and this group's values
    runs: list[Run]
    label: str = ""


def find_run_dirs(root: Path) -> list[Path]:
    """Every run directory at or under ``root``: a folder that holds one of ``RUN_FILES`` or a
    ``.hydra`` folder (a Hydra job, even one that stopped before training). Hidden folders,
    ``plots`` and ``tensorboard`` are not searched, nor is anything inside a run."""
    if any((root / name).is_file() for name in RUN_FILES) or (root / ".hydra").is_dir():
        return [root]
    found = []
    for child in sorted(root.iterdir()):
        if child.is_dir() and not child.name.startswith(".") and child.name not in _SKIP:
            found.extend(find_run_dirs(child))
    return found


def read_generalisation(path: Path) -> tuple[dict[str, np.ndarray] | None, list[str]]:
    """``generalisation.csv``'s columns with one row per size (the last row of a size that
    appears twice), sorted by size; None when it holds no usable row."""
    columns, problems = read_columns(path, GENERALISATION_COLUMNS, text=("checkpoint",))
    if not len(columns["size"]):
        return None, problems
    last_row = {size: i for i, size in enumerate(columns["size"])}
    order = [last_row[size] for size in sorted(last_row)]
    return {name: values[order] for name, values in columns.items()}, problems


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """A nested config as dotted keys -> leaf values (lists become tuples)."""
    if isinstance(tree, dict):
        flat: dict[str, Any] = {}
        for key, value in tree.items():
            flat.update(flatten(value, f"{prefix}{key}."))
        return flat
    return {prefix[:-1]: tuple(tree) if isinstance(tree, list) else tree}


def read_run(path: Path) -> Run:
    """Everything the report needs from one run directory; never raises for damaged files."""
    problems: list[str] = []
    config = None
    config_path = path / "config.yaml"
    if not config_path.is_file():
        problems.append("no config.yaml (the run stopped before training started)")
    else:
        try:
            config = flatten(OmegaConf.to_container(OmegaConf.load(config_path)))
        except Exception:  # yaml raises many kinds on a damaged file; all mean the same here
            problems.append("config.yaml cannot be read: it is damaged")
    metrics_path = path / METRICS_NAME
    if metrics_path.is_file():
        metrics, found = read_columns(metrics_path, METRICS_COLUMNS,
                                      optional=("step", "trained_bit_errors"))
        problems.extend(found)
    else:
        metrics = {name: np.array([]) for name in (*METRICS_COLUMNS, "step")}
        problems.append("no metrics.csv")
    overrides: list[str] = []
    overrides_path = path / ".hydra" / "overrides.yaml"
    if overrides_path.is_file():
        try:
            overrides = [str(o) for o in OmegaConf.load(overrides_path)]
        except Exception:  # only a label is lost
            problems.append(".hydra/overrides.yaml cannot be read")
    failure = read_failure(path)  # a sweep's run that ended on an error
    if failure is not None:
        problems.append(f"failed: {failure}")
    generalisation = None
    if (path / "generalisation.csv").is_file():
        generalisation, found = read_generalisation(path / "generalisation.csv")
        problems.extend(found)
    return Run(path, config, metrics, overrides, generalisation, problems)


def _sort_key(value: Any) -> tuple[int, Any]:
    if isinstance(value, bool) or value is None:
        return 2, str(value)
    if isinstance(value, int | float):
        return 0, value
    return 1, str(value)


def _override_key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def _labels(groups: list[Group]) -> list[str]:
    """Each group's Hydra overrides that all its runs share and some other run lacks, seed
    left out (``task=associative_recall``); the differing settings instead where overrides
    are missing or do not tell the groups apart."""
    shared = []
    for group in groups:
        sets = [set(run.overrides) for run in group.runs]
        shared.append(set.intersection(*sets) if all(sets) else set())
    everywhere = set.intersection(*shared) if shared else set()
    labels = [", ".join(sorted(o for o in s - everywhere if _override_key(o) not in NOT_SETTINGS))
              for s in shared]
    if all(labels) and len(set(labels)) == len(labels):
        return labels
    return [", ".join(f"{k}={v}" for k, v in g.settings.items()) or "all runs" for g in groups]


def group_runs(runs: list[Run]) -> tuple[list[Group], list[str]]:
    """Runs with a config grouped by the settings that differ between them, except
    ``NOT_SETTINGS``; returns the groups, in order of their settings, and the swept keys."""
    runs = [run for run in runs if run.config is not None]
    keys = sorted({key for run in runs for key in run.config})
    swept = [key for key in keys if key not in NOT_SETTINGS
             and len({repr(run.config.get(key, _UNSET)) for run in runs}) > 1]
    by_settings: dict[tuple, list[Run]] = {}
    for run in runs:
        by_settings.setdefault(tuple(run.config.get(key, _UNSET) for key in swept), []).append(run)
    order = sorted(by_settings, key=lambda values: tuple(_sort_key(v) for v in values))
    # A key the group's runs do not have is left out of its settings: a run with
    # train.curriculum=null has no train.curriculum.max_length, and one with a curriculum has
    # no train.curriculum of its own.
    groups = [Group({k: v for k, v in zip(swept, values, strict=True) if v is not _UNSET},
                    sorted(by_settings[values], key=lambda r: (_sort_key(r.seed), str(r.path))))
              for values in order]
    for group, label in zip(groups, _labels(groups), strict=True):
        group.label = label
    return groups, swept
