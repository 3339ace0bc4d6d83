"""``metrics.csv``: its columns (defined here only), the writer ``ntm.train`` appends a row to
at each evaluation, and the one reader every consumer uses (pictures, sweeps, reports).

TensorBoard scalars are written beside the CSV when TensorBoard is installed.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path

import numpy as np

__all__ = ["METRICS_NAME", "METRICS_FIELDS", "MetricsLog", "read_columns"]

METRICS_NAME = "metrics.csv"
#: The columns of ``metrics.csv``, in order: one row per evaluation.
METRICS_FIELDS = ("step", "sequences", "wall_seconds", "train_cost", "eval_cost",
                  "eval_bit_errors", "eval_optimal_cost", "sequences_per_second",
                  "learning_rate", "skipped_steps")


class MetricsLog:
    """``metrics.csv`` (one row per evaluation) and, when installed, TensorBoard scalars."""

    def __init__(self, run_dir: Path, resume_step: int | None, resume_sequences: int) -> None:
        self.path = run_dir / METRICS_NAME
        if resume_step is None or not self.path.exists():
            with open(self.path, "w", newline="") as f:
                csv.writer(f).writerow(METRICS_FIELDS)
        else:  # drop rows written after the checkpoint we resume from
            with open(self.path, newline="") as f:
                rows = [r for r in csv.DictReader(f) if int(r["step"]) <= resume_step]
            with open(self.path, "w", newline="") as f:
                writer = csv.DictWriter(f, METRICS_FIELDS)
                writer.writeheader()
                writer.writerows(rows)
        self.tensorboard = None
        try:
            from torch.utils.tensorboard import SummaryWriter

            # On resume, drop events written after the checkpoint (x axis: sequences seen).
            purge = resume_sequences + 1 if resume_step is not None else None
            self.tensorboard = SummaryWriter(str(run_dir / "tensorboard"), purge_step=purge)
        except ImportError:  # TensorBoard is an optional extra
            pass

    def write(self, row: dict[str, float]) -> None:
        with open(self.path, "a", newline="") as f:
            csv.DictWriter(f, METRICS_FIELDS).writerow(row)
        if self.tensorboard is not None:
            for key in METRICS_FIELDS[2:]:
                if row[key] != "":
                    self.tensorboard.add_scalar(key, row[key], global_step=int(row["sequences"]))
            self.tensorboard.flush()

    def close(self) -> None:
        if self.tensorboard is not None:
            self.tensorboard.close()


def read_columns(path: Path, columns: Iterable[str], optional: Iterable[str] = (),
                 ) -> tuple[dict[str, np.ndarray], list[str]]:
    """The ``columns`` of a CSV file (``metrics.csv``, ``generalisation.csv``), one float per
    row, and the problems found, in words.

    A last line without its line end was being written when the run stopped and is left out
    (its numbers may be cut short); rows whose ``columns`` do not parse are left out and
    counted; other columns, and their absence, do not matter. Each of ``optional`` is read as
    well, NaN where it is empty, absent or not a number.
    """
    path = Path(path)
    columns, optional = tuple(columns), tuple(optional)
    values: dict[str, list[float]] = {name: [] for name in (*columns, *optional)}
    problems: list[str] = []
    lines = path.read_text().splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        problems.append(f"the last line of {path.name} is cut short (the run stopped while "
                        "writing it) and is left out")
        lines = lines[:-1]
    reader = csv.DictReader(lines)
    missing = [name for name in columns if name not in (reader.fieldnames or [])]
    if missing:
        problems.append(f"{path.name} has no column {', '.join(missing)}" if lines
                        else f"{path.name} is empty")
        return {name: np.array([]) for name in values}, problems
    bad = 0
    for row in reader:
        try:
            parsed = [float(row[name]) for name in columns]
        except (TypeError, ValueError):
            bad += 1
            continue
        for name, value in zip(columns, parsed, strict=True):
            values[name].append(value)
        for name in optional:
            values[name].append(_float_or_nan(row.get(name)))
    if bad:
        problems.append(f"{bad} row(s) of {path.name} do not parse and are left out")
    return {name: np.array(v) for name, v in values.items()}, problems


def _float_or_nan(text: str | None) -> float:
    try:
        return float(text or "nan")
    except ValueError:
        return float("nan")
