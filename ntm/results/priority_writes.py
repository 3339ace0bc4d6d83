"""Where priority sort's write heads put each vector, against its priority.

The paper's hypothesis for priority sort is that the network writes each input vector to a
location that is close to a linear function of its priority, and then reads the locations in
order. ``write_locations`` measures that on held-out sequences of a trained NTM, and
``plot_priority_writes`` draws it (``plots/priority_writes.png`` of every priority-sort run): one
panel per write head, a point per input vector at (priority, the location its write weighting
peaks at), the least-squares line and the correlation.

The memory is circular, so a linear map from priority to location may wrap from location N-1
to 0. ``circular_fit`` therefore cuts the circle where the fit is best: it tries every cut
``c`` (locations counted from c, ``(location - c) mod N``) and keeps the one with the largest
absolute correlation; the picture draws the locations counted from that cut.

Shapes: n input vectors, B sequences, H write heads, N locations.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from torch import nn

from ntm.models.ntm import NTM
from ntm.results.runs import episode
from tasks import PrioritySortTask

__all__ = ["write_locations", "circular_fit", "plot_priority_writes"]


def write_locations(model: NTM, task: PrioritySortTask, sequences: int = 20,
                    seed: int = 0) -> tuple[np.ndarray, np.ndarray, int]:
    """The priority of every input vector and where each write head wrote it.

    ``sequences`` sequences are drawn from ``seed`` and run through ``model`` by
    ``ntm.results.runs.episode`` (eval mode, the model's device, the global random state
    untouched).

    Returns:
        (priorities [n, B], locations [n, B, H], N): the priority channel of input steps
        0..n-1, the location of the largest weight of each write head at that step, and the
        number of locations.
    """
    batch, _, trace = episode(model, task, seed, sequences=sequences)
    n = task.num_inputs
    priorities = batch.inputs[:n, :, task.width].cpu().numpy()
    locations = trace.write_weights[:n].argmax(-1).cpu().numpy()
    return priorities, locations, trace.write_weights.shape[-1]


def circular_fit(priorities: np.ndarray, locations: np.ndarray,
                 n_locations: int) -> tuple[int, float, float, float]:
    """The least-squares line of location against priority on the circle cut where it fits
    best (see the module docstring).

    Args:
        priorities, locations: equal shapes, one entry per written vector.
        n_locations: N.

    Returns:
        (cut, slope, intercept, r): locations are counted from ``cut``, so the line is
        ``(location - cut) mod N = slope * priority + intercept`` with correlation ``r``
        (0 when the head writes everything to one location).
    """
    x = priorities.ravel().astype(float)
    best = (0, 0.0, float(np.mean(locations)), 0.0)
    for cut in range(n_locations):
        y = ((locations.ravel() - cut) % n_locations).astype(float)
        if np.ptp(y) == 0 or np.ptp(x) == 0:
            continue
        r = float(np.corrcoef(x, y)[0, 1])
        if abs(r) > abs(best[3]) + 1e-12:
            slope, intercept = np.polyfit(x, y, 1)
            best = (cut, float(slope), float(intercept), r)
    return best


def plot_priority_writes(model: nn.Module, task: PrioritySortTask, path: str | Path | None = None,
                         *, sequences: int = 20, seed: int = 0, title: str = "") -> Figure:
    """Write location against priority for each write head (see the module docstring); saved
    to ``path`` when given; returns the figure."""
    priorities, locations, n_locations = write_locations(model, task, sequences, seed)
    heads = locations.shape[-1]
    rows, columns = -(-heads // 4), min(heads, 4)
    fig = Figure(figsize=(4.2 * columns, 3.8 * rows), layout="constrained")
    axes = fig.subplots(rows, columns, squeeze=False).ravel()
    colours = np.broadcast_to(np.arange(priorities.shape[1]), priorities.shape).ravel()
    for head, ax in enumerate(axes):
        if head >= heads:
            ax.set_visible(False)
            continue
        cut, slope, intercept, r = circular_fit(priorities, locations[..., head], n_locations)
        y = (locations[..., head].ravel() - cut) % n_locations
        ax.scatter(priorities.ravel(), y, s=8, alpha=0.6, c=colours, cmap="tab20")
        grid = np.array([-1.0, 1.0])
        ax.plot(grid, slope * grid + intercept, "k--", linewidth=1)
        ax.set(xlabel="priority", ylabel=f"write location - {cut} (mod {n_locations})",
               xlim=(-1.05, 1.05),
               title=f"write head {head}\nlocation = {slope:.1f} x priority + {intercept:.1f}"
                     f", r = {r:.2f}")
        ax.title.set_fontsize(9)
        ax.grid(alpha=0.3)
    fig.suptitle(title or f"where each vector is written, {sequences} sequences (colours)",
                 fontsize=10)
    if path is not None:
        fig.savefig(path, dpi=100)
    return fig
