"""Where priority sort's write heads put each vector, against its priority.

The paper's hypothesis for priority sort is that the network writes each input vector to a
location that is close to a linear function of its priority, and then reads the locations in
order. ``write_locations`` measures that on held-out sequences of a trained NTM, and
``plot_priority_writes`` draws it (``plots/priority_writes.png`` of every priority-sort run): one
panel per write head, a point per input vector at (priority, the location its write weighting
peaks at), the least-squares line and the correlation.

Shapes: n input vectors, B sequences, H write heads, N locations.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import nn

from ntm.models.ntm import NTM
from tasks import PrioritySortTask

__all__ = ["write_locations", "plot_priority_writes"]


def write_locations(model: NTM, task: PrioritySortTask, sequences: int = 20,
                    seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The priority of every input vector and where each write head wrote it.

    ``sequences`` sequences are drawn from ``seed`` (a generator of their own: the global
    random state is not touched) and run through ``model`` in eval mode on its device.

    Returns:
        (priorities [n, B], locations [n, B, H]): the priority channel of input steps 0..n-1
        and the location of the largest weight of each write head at that step.
    """
    batch = task.sample_batch(torch.Generator().manual_seed(seed), sequences)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            _, trace = model(batch.inputs.to(device), trace=True,
                             generator=torch.Generator(device=device).manual_seed(seed))
    finally:
        model.train(was_training)
    n = task.num_inputs
    priorities = batch.inputs[:n, :, task.width].numpy()
    locations = trace.write_weights[:n].argmax(-1).cpu().numpy()
    return priorities, locations


def plot_priority_writes(model: nn.Module, task: PrioritySortTask, path: str | Path | None = None,
                         *, sequences: int = 20, seed: int = 0, title: str = "") -> Figure:
    """Write location against priority for each write head (see the module docstring); saved
    to ``path`` when given; returns the figure."""
    priorities, locations = write_locations(model, task, sequences, seed)
    heads = locations.shape[-1]
    fig = Figure(figsize=(4.2 * min(heads, 4), 3.8 * -(-heads // 4)), layout="constrained")
    axes = np.atleast_1d(fig.subplots(-(-heads // 4), min(heads, 4), squeeze=False)).ravel()
    x = priorities.ravel()
    for head, ax in enumerate(axes):
        if head >= heads:
            ax.set_visible(False)
            continue
        y = locations[..., head].ravel().astype(float)
        ax.scatter(x, y, s=8, alpha=0.6, c=np.repeat(np.arange(priorities.shape[1])[None],
                                                     priorities.shape[0], 0).ravel(),
                   cmap="tab20")
        fitted = ""
        if np.ptp(y) > 0:
            slope, intercept = np.polyfit(x, y, 1)
            r = np.corrcoef(x, y)[0, 1]
            grid = np.array([-1.0, 1.0])
            ax.plot(grid, slope * grid + intercept, "k--", linewidth=1)
            fitted = f"\nlocation = {slope:.1f} x priority + {intercept:.1f}, r = {r:.2f}"
        ax.set(xlabel="priority", ylabel="write location (largest weight)", xlim=(-1.05, 1.05),
               title=f"write head {head}" + fitted)
        ax.title.set_fontsize(9)
        ax.grid(alpha=0.3)
    fig.suptitle(title or f"where each vector is written, {sequences} sequences (colours)",
                 fontsize=10)
    if path is not None:
        fig.savefig(path, dpi=100)
    return fig
