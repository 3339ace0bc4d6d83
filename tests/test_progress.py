"""The progress bar ends where the run will stop: at the sequence budget, or where the minutes
budget runs out when that comes first; its description names the solved threshold."""

from __future__ import annotations

import time

import pytest
from conftest import tiny_run

from ntm.experiment import loop
from ntm.experiment.loop import progress_description, progress_total, train


def test_without_a_minutes_budget_the_bar_ends_at_the_sequence_budget() -> None:
    assert progress_total(640, 2_000_000, 640, 10.0, float("inf")) == 2_000_000


def test_a_minutes_budget_that_binds_first_ends_the_bar_where_time_runs_out() -> None:
    # 64 sequences/s, 50 s left: 3,200 more, not the 2,000,000 of the budget.
    assert progress_total(640, 2_000_000, 640, 10.0, 50.0) == 640 + 3200
    # A budget of sequences that binds first stays the end.
    assert progress_total(640, 1000, 640, 10.0, 50.0) == 1000
    # Out of time: the end is here; no rate measured yet: the budget.
    assert progress_total(640, 2_000_000, 640, 10.0, -1.0) == 640
    assert progress_total(0, 2_000_000, 0, 0.0, 60.0) == 2_000_000


def test_the_description_names_the_solved_threshold() -> None:
    cfg = tiny_run(1, 1, "train.solved_bit_errors=0.01")
    assert progress_description(cfg, "copy") == "copy (stops early once bit errors <= 0.01)"
    assert progress_description(tiny_run(1, 1), "copy") == "copy"


class _Bar:
    """Stands in for tqdm on a terminal; records every total it is given."""

    def __init__(self, total: int, **kwargs) -> None:
        self.disable, self.totals, self.desc = False, [], kwargs.get("desc")
        self._total = total

    @property
    def total(self) -> int:
        return self._total

    @total.setter
    def total(self, value: int) -> None:
        self._total = value
        self.totals.append(value)

    def update(self, n: int) -> None:
        pass

    def set_postfix(self, **kwargs) -> None:
        pass

    def close(self) -> None:
        pass


@pytest.mark.usefixtures("isolated_torch")
def test_a_run_with_a_minutes_budget_moves_the_end_of_its_bar(tmp_path, monkeypatch) -> None:
    bars: list[_Bar] = []
    monkeypatch.setattr(loop, "tqdm", lambda **kw: bars.append(_Bar(**kw)) or bars[-1])
    monkeypatch.setattr(loop, "logging_redirect_tqdm", loop.nullcontext)
    # Three seconds' worth of training, far fewer than the budget of sequences.
    result = train(tiny_run(4, 50, "train.max_minutes=0.05", "train.max_sequences=100000000"),
                   tmp_path)
    (bar,) = bars
    assert len(bar.totals) == result.step
    assert all(total < 100_000_000 for total in bar.totals), bar.totals
    assert bar.totals[-1] == result.sequences  # the last step ends the bar


@pytest.mark.usefixtures("isolated_torch")
def test_a_budget_that_runs_out_during_an_evaluation_ends_the_bar(tmp_path, monkeypatch) -> None:
    """The minutes run out inside the evaluation of step 3, not inside a step: the bar still
    ends at the sequences reached (its end is set after the evaluation)."""
    bars: list[_Bar] = []
    monkeypatch.setattr(loop, "tqdm", lambda **kw: bars.append(_Bar(**kw)) or bars[-1])
    monkeypatch.setattr(loop, "logging_redirect_tqdm", loop.nullcontext)
    evaluate = loop._evaluate

    def slow_evaluation(state, *args, **kwargs):
        time.sleep(2.0)  # past the budget of 1.2 s, which three tiny steps do not reach
        return evaluate(state, *args, **kwargs)

    monkeypatch.setattr(loop, "_evaluate", slow_evaluation)
    result = train(tiny_run(4, 3, "train.max_minutes=0.02", "train.max_sequences=100000000"),
                   tmp_path)
    (bar,) = bars
    assert result.step == 3 and len(bar.totals) == 3
    assert bar.totals[-1] == result.sequences
