"""The priority-sort picture (ntm/results/priority_writes.py): locations read off the trace at
the input steps, priorities off the inputs, the fitted line, and a panel per write head."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from ntm.models.ntm import NTM, NTMConfig, Trace
from ntm.results.priority_writes import circular_fit, plot_priority_writes, write_locations
from tasks import PrioritySortTask


class LinearWriter(nn.Module):
    """Writes input vector t of every sequence at location round(32 + 20 * priority) with head
    0 and at location t with head 1, as a trace; logits are zeros."""

    def __init__(self, task: PrioritySortTask, n_locations: int = 64) -> None:
        super().__init__()
        self.task, self.n_locations = task, n_locations
        self.unused = nn.Parameter(torch.zeros(1))  # gives the stub a device

    def forward(self, inputs, trace=False, generator=None):
        steps, batch, _ = inputs.shape
        priority = inputs[..., self.task.width]  # (T, B)
        first = (32 + 20 * priority).round().long()
        second = torch.arange(steps).unsqueeze(1).expand(steps, batch)
        weights = torch.stack([nn.functional.one_hot(first, self.n_locations),
                               nn.functional.one_hot(second, self.n_locations)], dim=2).float()
        empty = torch.zeros(steps, batch, 1, 1)
        return torch.zeros(steps, batch, self.task.output_width), Trace(
            weights, weights, empty, empty, empty, empty)


def test_locations_and_priorities_are_the_trace_s_and_the_input_s() -> None:
    task = PrioritySortTask(num_inputs=20, num_outputs=16)
    priorities, locations, n_locations = write_locations(LinearWriter(task), task, sequences=5,
                                                         seed=3)
    assert n_locations == 64
    drawn = task.sample_batch(torch.Generator().manual_seed(3), 5)
    assert priorities.shape == (20, 5) and locations.shape == (20, 5, 2)
    np.testing.assert_array_equal(priorities, drawn.inputs[:20, :, 8].numpy())
    assert ((priorities >= -1) & (priorities <= 1)).all()
    np.testing.assert_array_equal(locations[..., 0], np.round(32 + 20 * priorities))
    np.testing.assert_array_equal(locations[..., 1], np.arange(20)[:, None].repeat(5, 1))


def test_picture_has_a_panel_per_write_head_with_the_fitted_line(tmp_path) -> None:
    task = PrioritySortTask()
    path = tmp_path / "priority_writes.png"
    fig = plot_priority_writes(LinearWriter(task), task, path, sequences=10)
    assert path.stat().st_size > 0
    titles = [ax.get_title() for ax in fig.axes if ax.get_visible()]
    assert len(titles) == 2
    assert titles[0].startswith("write head 0\nlocation = 20.0 x priority + 32.0, r = 1.00")
    r = float(titles[1].rsplit("r = ", 1)[1])
    assert abs(r) < 0.3  # the step order ignores the priority


def test_a_line_that_wraps_around_the_circle_is_fitted_whole() -> None:
    """Locations (120 + 20 p) mod 128 run 100..127 and on through 0..12: cut the circle between
    13 and 99 and they are one line again."""
    priorities = np.linspace(-1, 1, 41)
    locations = np.round(120 + 20 * priorities).astype(int) % 128
    cut, slope, intercept, r = circular_fit(priorities, locations, 128)
    assert 13 <= cut <= 100
    assert r == pytest.approx(1.0, abs=1e-3) and slope == pytest.approx(20.0, abs=0.05)
    assert (120 - cut) % 128 == pytest.approx(intercept, abs=0.05)
    assert circular_fit(priorities, np.full(41, 7), 128)[3] == 0.0  # one location: no line


@pytest.mark.parametrize("heads", [1, 5])
def test_a_real_ntm_gives_one_location_per_head_and_step(heads) -> None:
    task = PrioritySortTask(width=3, num_inputs=6, num_outputs=4)
    torch.manual_seed(0)
    model = NTM(NTMConfig(task.input_width, task.output_width, memory_locations=16,
                          memory_width=4, controller_size=8, read_heads=heads,
                          write_heads=heads))
    priorities, locations, _ = write_locations(model, task, sequences=3)
    assert priorities.shape == (6, 3) and locations.shape == (6, 3, heads)
    assert ((locations >= 0) & (locations < 16)).all()
    assert model.training  # the mode is restored


@pytest.mark.usefixtures("isolated_torch")
def test_every_priority_sort_run_draws_it(tmp_path) -> None:
    from conftest import TINY, compose_config

    from ntm.experiment.loop import train
    from ntm.results.plot import write_run_pictures
    from ntm.results.runs import load_run
    from ntm.train import draw_pictures

    settings = [s for s in TINY if not s.startswith(("task.", "train.pictures"))]
    train(compose_config([*settings, "task=priority_sort", "task.num_inputs=5",
                          "task.num_outputs=3", "model.write_heads=2", "train.eval_every=2",
                          "train.max_sequences=8"]), tmp_path, draw_pictures)
    assert (tmp_path / "plots" / "priority_writes.png").is_file()  # drawn at the end
    cfg, task, model = load_run(tmp_path)
    names = {p.name for p in write_run_pictures(tmp_path, cfg, model, task)}
    assert "priority_writes.png" in names and "memory_use.png" in names
