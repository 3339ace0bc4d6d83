"""``metrics.csv``: its columns (defined here only), the writer ``ntm.train`` appends a row to
at each evaluation, and the one reader every consumer uses (pictures, sweeps, reports).

TensorBoard scalars are written beside the CSV when TensorBoard is installed.

On resume the file is cut back to the checkpoint (rows written after it are dropped, and so is
a last row cut short by a kill or a full disk) and rewritten atomically; a file edited by hand
so that a row or the header no longer parses is refused in one sentence
(``MetricsFileError``), before anything is written. A row that cannot be appended (a full
disk) is a ``WriteError``.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from ntm.experiment.writes import write_atomically, write_error

__all__ = ["METRICS_NAME", "METRICS_FIELDS", "EARLIER_HEADERS", "MetricsFileError", "MetricsLog",
           "read_columns"]

log = logging.getLogger("ntm.train")

METRICS_NAME = "metrics.csv"
#: The columns of ``metrics.csv``, in order: one row per evaluation. ``trained_bit_errors``
#: is written only where the run judges an average of its weights and guards against the
#: collapse (``train.ema_decay`` with ``train.rollback_factor``): the held-out bit errors of the
#: trained weights, which the guard watches; empty otherwise (``eval_bit_errors`` are theirs).
#: ``curriculum`` is written only with ``train.curriculum``: the levels the training batches
#: since the previous row came from, as ``Curriculum.column_text`` writes them (``max_repeats=3``).
METRICS_FIELDS = ("step", "sequences", "wall_seconds", "train_cost", "eval_cost",
                  "eval_bit_errors", "eval_optimal_cost", "sequences_per_second",
                  "learning_rate", "skipped_steps", "trained_bit_errors", "curriculum")
#: The headers of earlier versions (before ``trained_bit_errors``, before ``curriculum``): a
#: run written then resumes, the later columns empty.
EARLIER_HEADERS = (METRICS_FIELDS[:-2], METRICS_FIELDS[:-1])


class MetricsFileError(ValueError):
    """``metrics.csv`` cannot be continued (edited by hand); the message says where."""


class MetricsLog:
    """``metrics.csv`` (one row per evaluation) and, when installed, TensorBoard scalars."""

    def __init__(self, run_dir: Path, resume_step: int | None, resume_sequences: int) -> None:
        self.path = run_dir / METRICS_NAME
        rows: list[dict[str, str]] = []
        if resume_step is not None:
            if self.path.exists():
                rows = rows_until(self.path, resume_step)
            else:
                log.warning("%s is missing: its rows up to step %d are lost; new rows follow.",
                            self.path, resume_step)

        def write(f: io.TextIOBase) -> None:
            writer = csv.DictWriter(f, METRICS_FIELDS)
            writer.writeheader()
            writer.writerows(rows)

        write_atomically(self.path, write)
        self.tensorboard = None
        try:
            from torch.utils.tensorboard import SummaryWriter

            # On resume, drop events written after the checkpoint (x axis: sequences seen).
            purge = resume_sequences + 1 if resume_step is not None else None
            self.tensorboard = SummaryWriter(str(run_dir / "tensorboard"), purge_step=purge)
        except ImportError:  # TensorBoard is an optional extra
            pass

    def write(self, row: dict[str, float]) -> None:
        """Appends ``row``; ``WriteError`` when it cannot (what was written of it is dropped on
        resume: the checkpoint, written after the row, is still the previous one)."""
        try:
            with open(self.path, "a", newline="") as f:
                csv.DictWriter(f, METRICS_FIELDS).writerow(row)
        except OSError as e:
            raise write_error(self.path, e) from None
        if self.tensorboard is not None:
            for key in METRICS_FIELDS[2:]:
                if row[key] == "":
                    continue
                if key == "curriculum":  # text, not a number
                    self.tensorboard.add_text(key, row[key], global_step=int(row["sequences"]))
                else:
                    self.tensorboard.add_scalar(key, row[key], global_step=int(row["sequences"]))
            self.tensorboard.flush()

    def close(self) -> None:
        if self.tensorboard is not None:
            self.tensorboard.close()


def rows_until(path: Path, step: int) -> list[dict[str, str]]:
    """The rows of ``metrics.csv`` at ``path`` up to ``step``: those after it were written
    after the checkpoint a run resumes from, and a last line without its line end was being
    written when the run stopped (both are logged). A file with one of the ``EARLIER_HEADERS``
    gets the later columns empty. ``MetricsFileError`` when the header is none of these, or a
    row has not as many fields as its header, or a step that is not a number."""
    lines = path.read_text().splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        log.warning("The last line of %s was cut short when the run stopped; it is dropped.",
                    path)
        lines = lines[:-1]
    records = list(csv.reader(lines))
    fields = tuple(records[0]) if records else ()
    if fields != METRICS_FIELDS and fields not in EARLIER_HEADERS:
        raise MetricsFileError(
            f"{path} does not start with the header ntm.train writes, so it was edited or "
            "written by another version of ntm; put the header back (or move the file away "
            "to start a new one) and resume.")
    rows = []
    for number, record in enumerate(records[1:], start=2):
        try:
            if len(record) != len(fields):
                raise ValueError
            row_step = int(record[0])
        except ValueError:
            raise MetricsFileError(
                f"line {number} of {path} is not a row ntm.train writes ({len(record)} fields, "
                f"{len(fields)} expected, the first a step), so the file was edited; "
                "fix or delete that line and resume.") from None
        if row_step <= step:
            rows.append({**dict.fromkeys(METRICS_FIELDS, ""),
                         **dict(zip(fields, record, strict=True))})
    dropped = len(records) - 1 - len(rows)
    if dropped:
        log.info("%d row(s) of %s after the checkpoint's step %d are dropped.", dropped,
                 path.name, step)
    return rows


def read_columns(path: Path, columns: Iterable[str], optional: Iterable[str] = (),
                 text: Iterable[str] = ()) -> tuple[dict[str, np.ndarray], list[str]]:
    """The ``columns`` of a CSV file (``metrics.csv``, ``generalisation.csv``), one float per
    row, and the problems found, in words.

    A last line without its line end was being written when the run stopped and is left out
    (its numbers may be cut short); rows whose ``columns`` do not parse are left out and
    counted; other columns, and their absence, do not matter. Each of ``optional`` is read as
    well, NaN where it is empty, absent or not a number, and each of ``text`` as strings, ""
    where empty or absent.
    """
    path = Path(path)
    columns, optional, text = tuple(columns), tuple(optional), tuple(text)
    values: dict[str, list] = {name: [] for name in (*columns, *optional, *text)}
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
        return {name: np.array([], dtype=str if name in text else float)
                for name in values}, problems
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
        for name in text:
            values[name].append(row.get(name) or "")
    if bad:
        problems.append(f"{bad} row(s) of {path.name} do not parse and are left out")
    return {name: np.array(v, dtype=str if name in text else float)
            for name, v in values.items()}, problems


def _float_or_nan(text: str | None) -> float:
    try:
        return float(text or "nan")
    except ValueError:
        return float("nan")
