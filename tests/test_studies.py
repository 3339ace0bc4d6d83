"""The study scripts of ``benchmarks/`` (docs/training.md's tables): every run they would start
composes and passes validation, so a change of a default or a setting cannot leave a cell that
fails at its first line. The scripts run against a stub ``python`` that records its arguments,
in a scratch copy of ``benchmarks/``, so nothing is trained or written in the repository."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from conftest import compose_config
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
