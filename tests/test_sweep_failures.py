"""A sweep goes on past a run that fails and ends with one line per failed run and exit
status 2 (ntm/experiment/sweep_failures.py); the report names the failure."""

from __future__ import annotations

import os
import sys

import pytest
from conftest import TINY, metrics_rows
from test_nonfinite import poison_hook

import ntm.experiment.loop
import ntm.train
from ntm.experiment.sweep_failures import FAILED_NAME, failed_runs
from ntm.results.sweep import read_run

pytestmark = pytest.mark.usefixtures("isolated_torch")


def run_sweep(monkeypatch, sweep_dir, *overrides: str) -> None:
    """``python -m ntm.train -m`` in this process (Hydra's basic launcher runs the jobs here,
    so the monkeypatches reach them)."""
    monkeypatch.setattr(sys, "argv", ["ntm.train", "-m", *TINY, "train.eval_every=3",
                                      "train.max_sequences=24", f"hydra.sweep.dir={sweep_dir}",
                                      "hydra.sweep.subdir=${seed}", *overrides])
    ntm.train.main()


def poison_seed(monkeypatch, seed: int) -> None:
    """The run of ``seed`` gets a NaN gradient on every step; the others train."""
    original = ntm.experiment.loop.build_model

    def build(cfg, task):
        model = original(cfg, task)
        if cfg.seed == seed:
            poison_hook(set(range(1, 100)))(model)
        return model

    monkeypatch.setattr(ntm.experiment.loop, "build_model", build)


def test_a_failed_run_does_not_stop_the_sweep(tmp_path, monkeypatch, capsys) -> None:
    poison_seed(monkeypatch, 0)
    with pytest.raises(SystemExit) as info:
        run_sweep(monkeypatch, tmp_path, "seed=0,1,2", "train.max_bad_steps=2")
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert f"error: run {tmp_path / '0'} failed: training stopped at step 2" in err
    assert "1 run(s) of the sweep" in err and err.count("error: run ") == 1
    for seed in (1, 2):  # the runs after the failed one ran to their end
        assert [int(r["step"]) for r in metrics_rows(tmp_path / str(seed))] == [3, 6]
        assert not (tmp_path / str(seed) / FAILED_NAME).exists()
    [(run_dir, sentence)] = failed_runs(tmp_path)
    assert run_dir == tmp_path / "0" and "train.max_bad_steps" in sentence
    assert "training stopped at step 2" in (tmp_path / "0" / "train.log").read_text()
    assert any(p.startswith("failed: training stopped") for p in read_run(tmp_path / "0").problems)


def test_a_run_started_again_that_ends_well_clears_its_failure(tmp_path, monkeypatch) -> None:
    """Started again, in a sweep or alone, a failed run removes its failed.txt once it ends
    without error; a failure left by an earlier sweep into the folder is not this sweep's."""
    poison_seed(monkeypatch, 0)
    with pytest.raises(SystemExit):
        run_sweep(monkeypatch, tmp_path, "seed=0,1", "train.max_bad_steps=2")
    monkeypatch.undo()
    stale = tmp_path / "old" / FAILED_NAME
    stale.parent.mkdir()
    stale.write_text("an earlier sweep's failure\n")
    os.utime(stale, (1e9, 1e9))
    run_sweep(monkeypatch, tmp_path, "seed=0,1")  # seed 0 again, now without the poison
    assert failed_runs(tmp_path) == [(tmp_path / "old", "an earlier sweep's failure")]
    assert [int(r["step"]) for r in metrics_rows(tmp_path / "0")] == [3, 6]

    poison_seed(monkeypatch, 1)
    with pytest.raises(SystemExit):
        run_sweep(monkeypatch, tmp_path, "seed=1", "train.max_bad_steps=2",
                  "train.max_sequences=48")
    assert (tmp_path / "1" / FAILED_NAME).is_file()
    monkeypatch.undo()
    monkeypatch.setattr(sys, "argv", ["ntm.train", *TINY, "train.eval_every=3", "seed=1",
                                      "train.max_sequences=48", f"hydra.run.dir={tmp_path / '1'}"])
    ntm.train.main()  # resumed alone, as the error's own sentence suggests
    assert not (tmp_path / "1" / FAILED_NAME).exists()
