"""Pictures of a run: memory use (the paper's Figure 6), memory contents, an animation of the
memory and the heads, and learning curves.

``python -m ntm.plot RUN_DIR [key=value ...] [--seed S] [--size N] [--gif] [--best]`` (or
``ntm-plot``) loads the run's config and checkpoint (``--best``: the weights of its lowest
held-out cost, ``best.pt``), runs one episode of its task (the overrides may change
the task, e.g. ``task.max_length=50``, or ``memory.N``) and writes into ``RUN_DIR/plots/``:

    memory_use.png       inputs, adds, write weightings | targets, outputs, reads, read weightings
    memory_contents.png  the memory after the input phase and at the end, visited rows marked
    learning_curves.png  held-out cost and bit errors against sequences seen (from metrics.csv),
                         a dotted line where a curriculum grew
    memory.gif           the memory and both weightings step by step (only with --gif)
    priority_writes.png  priority sort: where each write head put each vector, against its
                         priority (ntm.results.priority_writes)
    attention.png        for model=transformer (no memory): every layer's and head's
                         attention, in the style of the memory use (plot_attention)

The figure functions take tensors and return a ``matplotlib.figure.Figure`` (built without
pyplot, so nothing accumulates when training draws them again and again); they save it when
given a path. Shapes: T steps, B batch, N locations, M width, H heads.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # servers have no display: never a desktop backend

import numpy as np  # noqa: E402
import torch  # noqa: E402
from matplotlib.animation import FuncAnimation, PillowWriter  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import FuncFormatter, MaxNLocator  # noqa: E402
from omegaconf import DictConfig  # noqa: E402
from torch import Tensor, nn  # noqa: E402

from ntm.experiment import checkpoint  # noqa: E402
from ntm.experiment.config import ConfigError  # noqa: E402
from ntm.experiment.errors import exit_with  # noqa: E402
from ntm.experiment.metrics import wrong_bits  # noqa: E402
from ntm.experiment.metrics_log import METRICS_NAME, read_columns  # noqa: E402
from ntm.models.ntm import NTM, Trace  # noqa: E402
from ntm.models.transformer import AttentionTrace, TransformerBaseline  # noqa: E402
from ntm.results.numbers import cost  # noqa: E402
from ntm.results.priority_writes import plot_priority_writes  # noqa: E402
from ntm.results.runs import (  # noqa: E402
    BEST_HELP,
    episode,
    load_run,
    memory_override,
    model_label,
    run_config,
    trained_up_to,
)
from tasks import Batch, PrioritySortTask, Task  # noqa: E402

__all__ = ["PLOTS_DIR", "plot_memory_use", "plot_attention", "plot_memory_contents",
           "animate_memory", "memory_frame_title",
           "read_metrics", "log_scale_if_it_helps", "draw_curriculum", "plot_learning_curves",
           "write_run_pictures", "main"]

PLOTS_DIR = "plots"
UNIT_CMAP = "viridis"  # values in [0, 1]: bits, output probabilities, weightings
VECTOR_CMAP = "RdBu_r"  # signed values: add and read vectors, memory, centred on 0
CROP_ABOVE = 32  # with more locations than this, weighting panels show only the visited ones
VISIT_THRESHOLD = 0.01  # a location counts as visited (for cropping) above this weighting
FOCUS_THRESHOLD = 0.5  # memory contents marks rows a head weighted above this
COLORBAR = "<colorbar>"  # the label matplotlib gives colour-bar axes; tests count the others
_UNIT_CMAP = matplotlib.colormaps[UNIT_CMAP].with_extremes(bad="0.85")  # grey: not scored
_PANEL_HEIGHT = {"bits": 0.9, "vector": 0.9, "weights": 1.7}  # inches


def _np(x: Tensor | np.ndarray) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, Tensor) else np.asarray(x)


def _shown_locations(weights: np.ndarray, crop: bool | None) -> np.ndarray:
    """The locations to draw, top to bottom, from weightings [..., N]: all N, or when cropping
    (default: N > CROP_ABOVE) the shortest run of locations, taken circularly, that holds every
    visited one, with a margin of 2 (a head that walks back from location 0 wraps to N - 1)."""
    n = weights.shape[-1]
    visited = np.flatnonzero((weights.reshape(-1, n) > VISIT_THRESHOLD).any(axis=0))
    if not (n > CROP_ABOVE if crop is None else crop) or visited.size == 0:
        return np.arange(n)
    gaps = np.diff(visited, append=visited[0] + n)  # to the next visited location, circularly
    largest = int(np.argmax(gaps))  # the longest unvisited stretch is left out
    first, last = int(visited[(largest + 1) % visited.size]), int(visited[largest])
    if first <= last:
        rows = np.arange(max(first - 2, 0), min(last + 3, n))
    else:
        rows = np.arange(first - 2, last + n + 3) % n
    return np.arange(n) if rows.size >= n else rows


def _locations_note(rows: np.ndarray, n: int) -> str:
    if rows.size == n and rows[0] == 0:
        return ""
    if rows[-1] < rows[0]:  # wraps around the end of the memory
        return f"locations {rows[0]}-{n - 1}, 0-{rows[-1]} of {n}"
    return f"locations {rows[0]}-{rows[-1]} of {n}"


def _label_locations(ax, rows: np.ndarray) -> None:
    """Y ticks of a panel whose row i shows location ``rows[i]``; where the rows wrap around
    the end of the memory (N - 1 to 0), a dashed line there and the axis label say so."""
    ax.yaxis.set_major_locator(MaxNLocator(nbins=6, integer=True))
    ax.yaxis.set_major_formatter(FuncFormatter(
        lambda y, _: str(rows[int(y)]) if y == int(y) and 0 <= y < rows.size else ""))
    wraps = np.flatnonzero(np.diff(rows) < 0)
    if wraps.size:
        i = int(wraps[0])
        ax.axhline(i + 0.5, color="0.3", linestyle="--", linewidth=0.8)
        ax.set_ylabel(f"Location (wraps {rows[i]} → {rows[i + 1]})")
    else:
        ax.set_ylabel("Location")


def _head_title(name: str, head: int, heads: int, note: str = "") -> str:
    """``name (head 2, locations 5-30 of 128)``."""
    notes = [f"head {head + 1}"] * (heads > 1) + [note] * bool(note)
    return f"{name} ({', '.join(notes)})" if notes else name


@dataclass
class _Panel:
    title: str
    image: np.ndarray  # (rows, T)
    kind: str  # bits, vector or weights (see _PANEL_HEIGHT)
    locations: np.ndarray | None = None  # weights: the location each row shows


def _draw_column(subfig, panels: list[_Panel], steps: int, vector_limit: float):
    """One column of panels over a shared time axis; returns the axes and an image per kind."""
    axes = subfig.subplots(len(panels), 1, sharex=True, squeeze=False,
                           height_ratios=[_PANEL_HEIGHT[p.kind] for p in panels])[:, 0]
    images = {}
    for ax, p in zip(axes, panels, strict=True):
        if p.kind == "vector":
            style = {"cmap": VECTOR_CMAP, "vmin": -vector_limit, "vmax": vector_limit}
        else:
            style = {"cmap": _UNIT_CMAP, "vmin": 0.0, "vmax": 1.0}
        images[p.kind] = ax.imshow(p.image, aspect="auto", interpolation="nearest",
                                   extent=(-0.5, steps - 0.5, len(p.image) - 0.5, -0.5), **style)
        ax.set_title(p.title, fontsize=10)
        if p.locations is not None:
            _label_locations(ax, p.locations)
    axes[-1].set_xlabel("Time")
    return axes, images


def plot_memory_use(batch: Batch, logits: Tensor, trace: Trace, path: str | Path | None = None,
                    *, index: int = 0, title: str | None = None,
                    crop: bool | None = None) -> Figure:
    """The paper's Figure 6 for sequence ``index`` of a batch: inputs, add vectors and write
    weightings (left); targets, outputs, read vectors and read weightings (right); one panel
    per head; time along x, locations down the weighting panels.

    Outputs are sigmoid(logits), grey where not scored (mask 0); a red square marks each
    scored bit whose thresholded output (p > 0.5) differs from its target. ``batch``: inputs
    [T, B, I], targets and mask [T, B, O]; ``logits`` [T, B, O]; ``trace`` from
    ``NTM.forward(trace=True)``. ``crop``: see ``_shown_locations``.
    """
    inputs, targets, mask = (_np(x[:, index]) for x in (batch.inputs, batch.targets, batch.mask))
    outputs = _np(torch.sigmoid(logits[:, index].float()))  # (T, O)
    wrong = _np(wrong_bits(logits[:, index], batch.targets[:, index], batch.mask[:, index]))
    read_w, write_w = _np(trace.read_weights[:, index]), _np(trace.write_weights[:, index])
    adds, reads = _np(trace.add[:, index]), _np(trace.reads[:, index])  # (T, H, M)
    steps, n = inputs.shape[0], read_w.shape[-1]
    rows = _shown_locations(np.concatenate([read_w, write_w], axis=1), crop)
    note = _locations_note(rows, n)

    def head_panels(names: tuple[str, str], vectors: np.ndarray, weights: np.ndarray):
        heads = weights.shape[1]
        return ([_Panel(_head_title(names[0], h, heads), vectors[:, h].T, "vector")
                 for h in range(heads)]
                + [_Panel(_head_title(names[1], h, heads, note), weights[:, h, rows].T,
                          "weights", rows) for h in range(heads)])

    left = [_Panel("Inputs", inputs.T, "bits"),
            *head_panels(("Adds", "Write Weightings"), adds, write_w)]
    right = [_Panel("Targets", targets.T, "bits"),
             _Panel(f"Outputs (grey: not scored; {int(wrong.sum())} wrong bits marked)",
                    np.where(mask > 0, outputs, np.nan).T, "bits"),
             *head_panels(("Reads", "Read Weightings"), reads, read_w)]
    vector_limit = float(max(np.abs(adds).max(initial=0), np.abs(reads).max(initial=0))) or 1.0

    height = max(sum(_PANEL_HEIGHT[p.kind] for p in col) for col in (left, right)) + 1.4
    fig = Figure(figsize=(float(np.clip(0.12 * steps, 10, 24)), height), layout="constrained")
    top, bottom = fig.subfigures(2, 1, height_ratios=[height - 0.7, 0.7])
    left_subfig, right_subfig = top.subfigures(1, 2)
    _, images = _draw_column(left_subfig, left, steps, vector_limit)
    right_axes, right_images = _draw_column(right_subfig, right, steps, vector_limit)
    images.update(right_images)
    cell = 72 * fig.get_figwidth() * 0.4 / steps  # points per step, roughly
    t, bit = np.nonzero(wrong)
    right_axes[1].plot(t, bit, linestyle="none", marker="s", markerfacecolor="none",  # Outputs
                       markeredgecolor="red", markersize=float(np.clip(cell, 3, 9)),
                       label="wrong bits", scalex=False, scaley=False)
    bars = [("bits", "bit, output probability, weighting"), ("vector", "add and read vectors")]
    for cax, (kind, label) in zip(bottom.subplots(1, 2), bars, strict=True):
        cax.set_label(COLORBAR)
        fig.colorbar(images[kind], cax=cax, orientation="horizontal", label=label)
    if title:
        fig.suptitle(title)
    if path is not None:
        fig.savefig(path, dpi=100)
    return fig


def plot_attention(batch: Batch, logits: Tensor, trace: AttentionTrace,
                   path: str | Path | None = None, *, index: int = 0,
                   title: str | None = None) -> Figure:
    """The Transformer's counterpart of the memory-use picture for sequence ``index``: inputs,
    targets and outputs (top), then one panel per layer (rows) and head (columns) showing
    where each step reads: time (the query step) along x, the steps it attends to down y,
    as the NTM's read weightings show locations.

    ``batch`` and ``logits`` as in ``plot_memory_use``; ``trace`` from
    ``TransformerBaseline.forward(trace=True)``, attention [L, B, H, T, T].
    """
    inputs, targets, mask = (_np(x[:, index]) for x in (batch.inputs, batch.targets, batch.mask))
    outputs = _np(torch.sigmoid(logits[:, index].float()))  # (T, O)
    attention = _np(trace.attention[:, index])  # (L, H, T query, T key)
    layers, heads, steps = attention.shape[:3]
    unit = {"cmap": _UNIT_CMAP, "vmin": 0.0, "vmax": 1.0, "aspect": "auto",
            "interpolation": "nearest"}
    width = float(np.clip(3.2 * heads, 10, 24))
    fig = Figure(figsize=(width, 1.6 + 2.6 * layers + 0.7), layout="constrained")
    top, grid, bottom = fig.subfigures(3, 1, height_ratios=[1.6, 2.6 * layers, 0.7])
    panels = (("Inputs", inputs), ("Targets", targets),
              ("Outputs (grey: not scored)", np.where(mask > 0, outputs, np.nan)))
    for ax, (name, image) in zip(top.subplots(1, 3), panels, strict=True):
        ax.imshow(image.T, extent=(-0.5, steps - 0.5, image.shape[1] - 0.5, -0.5), **unit)
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("Time")
    axes = grid.subplots(layers, heads, squeeze=False, sharex=True, sharey=True)
    for layer, head in np.ndindex(layers, heads):
        ax = axes[layer, head]
        image = ax.imshow(attention[layer, head].T,  # (key step, query step)
                          extent=(-0.5, steps - 0.5, steps - 0.5, -0.5), **unit)
        ax.set_title(f"Attention (layer {layer + 1}, head {head + 1})", fontsize=10)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # steps, not fractions
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        if layer == layers - 1:
            ax.set_xlabel("Time")
        if head == 0:
            ax.set_ylabel("Step attended to")
    cax = bottom.subplots(1, 1)
    cax.set_label(COLORBAR)
    fig.colorbar(image, cax=cax, orientation="horizontal", label="bit, output probability, "
                 "attention weight")
    if title:
        fig.suptitle(title)
    if path is not None:
        fig.savefig(path, dpi=100)
    return fig


def input_end_step(inputs: Tensor | np.ndarray) -> int:
    """The last step whose input is non-zero (copy: the delimiter), from inputs [T, I]."""
    active = np.flatnonzero(np.abs(_np(inputs)).reshape(len(inputs), -1).sum(axis=1) > 0)
    return int(active[-1]) if active.size else len(inputs) - 1


def plot_memory_contents(inputs: Tensor, trace: Trace, path: str | Path | None = None, *,
                         steps: Sequence[int] | None = None, index: int = 0,
                         title: str | None = None, crop: bool | None = None) -> Figure:
    """The memory (locations x width) after each of ``steps`` (default: the end of the input,
    see ``input_end_step``, and the last step) for sequence ``index``; inputs [T, B, I].

    Triangles beside a row mark the locations a head focused on (weighting > FOCUS_THRESHOLD)
    up to that step: write heads on the left, read heads on the right.
    """
    memory = _np(trace.memory[:, index])  # (T, N, M)
    read_w, write_w = _np(trace.read_weights[:, index]), _np(trace.write_weights[:, index])
    total, n, width = memory.shape
    end_of_input = input_end_step(inputs[:, index])
    if steps is None:
        steps = sorted({end_of_input, total - 1})
    rows = _shown_locations(np.concatenate([read_w, write_w], axis=1), crop)
    limit = float(np.abs(memory[:, rows]).max(initial=0)) or 1.0

    fig = Figure(figsize=(1.5 + 3 * len(steps), float(np.clip(0.12 * rows.size, 4, 12))),
                 layout="constrained")
    axes = fig.subplots(1, len(steps), sharey=True, squeeze=False)[0]
    for ax, t in zip(axes, steps, strict=True):
        image = ax.imshow(memory[t, rows], aspect="auto", interpolation="nearest",
                          cmap=VECTOR_CMAP, vmin=-limit, vmax=limit,
                          extent=(-0.5, width - 0.5, rows.size - 0.5, -0.5))
        what = {end_of_input: " (end of input)", total - 1: " (last step)"}.get(t, "")
        ax.set_title(f"Memory after step {t}{what}", fontsize=10)
        ax.set_xlabel("Element")
        for kind, weights, x, marker in (("write", write_w, -1.0, ">"),
                                         ("read", read_w, width, "<")):
            for h in range(weights.shape[1]):
                focused = np.flatnonzero(weights[: t + 1, h, rows].max(axis=0) > FOCUS_THRESHOLD)
                if focused.size == 0:  # an empty line outside the axes upsets the layout
                    continue
                ax.plot(np.full(focused.size, x), focused, linestyle="none", marker=marker,
                        color=f"C{2 * h + (1 if kind == 'write' else 2)}", markersize=5,
                        clip_on=False, scalex=False, scaley=False, label=f"{kind} head {h + 1}")
    _label_locations(axes[0], rows)
    note = _locations_note(rows, n)
    axes[0].set_ylabel(f"Location ({note})" if note else "Location")
    handles, labels = axes[-1].get_legend_handles_labels()  # the last step marks every head
    if labels:
        fig.legend(handles, [f"{lab}: weighting > {FOCUS_THRESHOLD}" for lab in labels],
                   loc="outside lower center", ncols=len(labels), fontsize=8)
    fig.colorbar(image, ax=list(axes), label="memory value", shrink=0.8)
    if title:
        fig.suptitle(title)
    if path is not None:
        fig.savefig(path, dpi=100)
    return fig


def memory_frame_title(t: int, steps: int, input_end: int | None,
                       title: str | None = None) -> str:
    """The title of frame ``t`` of ``steps`` in the memory animation: ``title`` over the step
    and its phase (input up to ``input_end``, the last input step; output after it)."""
    line = f"step {t} of {steps - 1}"
    if input_end is not None:
        line += (": input phase (the sequence goes in)" if t <= input_end
                 else ": output phase (the answer comes out)")
    return f"{title}\n{line}" if title else line


def animate_memory(trace: Trace, path: str | Path, *, index: int = 0, fps: int = 4,
                   crop: bool | None = None, title: str | None = None,
                   input_end: int | None = None) -> Path:
    """An animated GIF, one frame per step: the memory after the step and every head's
    weighting beside it, location by location, with colour bars; each frame's title is
    ``title`` over the step and, given ``input_end`` (the last input step, see
    ``input_end_step``), its phase. Slow (about 0.1 s a frame)."""
    memory = _np(trace.memory[:, index])  # (T, N, M)
    read_w, write_w = _np(trace.read_weights[:, index]), _np(trace.write_weights[:, index])
    total = memory.shape[0]
    rows = _shown_locations(np.concatenate([read_w, write_w], axis=1), crop)
    limit = float(np.abs(memory[:, rows]).max(initial=0)) or 1.0
    panels = [(memory[:, rows], "Memory", VECTOR_CMAP, -limit, limit)]
    for name, weights in (("Write\nWeightings", write_w), ("Read\nWeightings", read_w)):
        if weights.shape[1]:
            panels.append((weights[:, :, rows].transpose(0, 2, 1), name, _UNIT_CMAP, 0, 1))

    fig = Figure(figsize=(7, float(np.clip(0.08 * rows.size, 3, 9))), layout="constrained")
    axes = fig.subplots(1, len(panels), sharey=True, squeeze=False,
                        width_ratios=[memory.shape[2]] + [4 * p[0].shape[2] for p in panels[1:]])[0]
    images = []
    for ax, (frames, name, cmap, low, high) in zip(axes, panels, strict=True):
        images.append(ax.imshow(frames[0], aspect="auto", interpolation="nearest", cmap=cmap,
                                vmin=low, vmax=high,
                                extent=(-0.5, frames.shape[2] - 0.5, rows.size - 0.5, -0.5)))
        ax.set_title(name, fontsize=9)
        if ax is not axes[0]:  # one column per head
            ax.set_xticks(range(frames.shape[2]), [f"head {h + 1}" for h in range(frames.shape[2])],
                          fontsize=7)
    axes[0].set_xlabel("Element")
    axes[0].xaxis.set_major_locator(MaxNLocator(integer=True))
    _label_locations(axes[0], rows)

    fig.colorbar(images[0], ax=axes[0], location="bottom", label="memory value", shrink=0.9)
    if len(images) > 1:
        fig.colorbar(images[1], ax=list(axes[1:]), location="bottom", label="weighting",
                     shrink=0.9)

    def update(t: int):
        for image, (frames, *_) in zip(images, panels, strict=True):
            image.set_data(frames[t])
        fig.suptitle(memory_frame_title(t, total, input_end, title), fontsize=9)
        return images

    FuncAnimation(fig, update, frames=total, blit=False).save(
        path, writer=PillowWriter(fps=fps), dpi=80)
    return Path(path)


CURVE_FIELDS = ("sequences", "wall_seconds", "train_cost", "eval_cost", "eval_bit_errors")


def read_metrics(path: str | Path) -> dict[str, np.ndarray]:
    """The columns of ``metrics.csv`` the curves need, and ``eval_optimal_cost`` and
    ``trained_bit_errors`` when the file has them (NaN where empty) and ``curriculum`` when
    the run had one (text, "" where empty); rows that do not parse, and a last line cut
    short, are left out (a row being written while we read). ``read_columns`` is the reader."""
    optional = ("eval_optimal_cost", "trained_bit_errors")
    columns, _ = read_columns(Path(path), CURVE_FIELDS, optional=optional, text=("curriculum",))
    for name in optional:
        if not np.isfinite(columns[name]).any():
            del columns[name]
    if not any(columns["curriculum"]):
        del columns["curriculum"]
    return columns


def log_scale_if_it_helps(ax, *series: np.ndarray) -> None:
    """Log y when the values span more than a decade; symlog (linear near 0) with zeros."""
    values = np.concatenate(series)
    values = values[np.isfinite(values)]
    positive = values[values > 0]
    if positive.size == 0 or positive.max() < 10 * positive.min():
        return
    if (values <= 0).any():
        ax.set_yscale("symlog", linthresh=10 ** np.floor(np.log10(positive.min())))
        ax.set_ylim(bottom=0)
    else:
        ax.set_yscale("log")


def plot_learning_curves(metrics: str | Path | dict[str, np.ndarray],
                         path: str | Path | None = None, *, title: str | None = None) -> Figure:
    """Held-out cost (bits per sequence, with the training cost) and held-out bit errors per
    sequence against sequences seen, from ``metrics.csv`` or ``read_metrics``'s columns;
    wall time along the top axis. ``ValueError`` when there is no row yet."""
    m = read_metrics(metrics) if isinstance(metrics, str | Path) else metrics
    x = m["sequences"]
    if len(x) == 0:
        raise ValueError(f"{metrics} has no rows of metrics yet.")
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    cost_ax, error_ax = fig.subplots(1, 2, sharex=True)
    cost_ax.plot(x, m["eval_cost"], "o-", markersize=3, label="held-out cost")
    cost_ax.plot(x, m["train_cost"], "o-", markersize=3, alpha=0.6, label="training cost")
    if "eval_optimal_cost" in m:
        cost_ax.plot(x, m["eval_optimal_cost"], ":", color="C3", label="Bayes-optimal, held out")
    cost_ax.set(title="Cost", ylabel="bits per sequence")
    trained = m.get("trained_bit_errors")  # only where the run is judged by an average
    error_ax.plot(x, m["eval_bit_errors"], "o-", markersize=3, color="C2",
                  label="held-out bit errors" + ("" if trained is None else " (the average)"))
    errors = [m["eval_bit_errors"]]
    if trained is not None:
        error_ax.plot(x, trained, "o-", markersize=2, alpha=0.6, color="C4",
                      label="trained weights (the rollback's)")
        errors.append(trained)
    error_ax.set(title="Bit errors", ylabel="wrong bits per sequence")
    levels = m.get("curriculum")  # only where the run had a curriculum
    if levels is not None:
        draw_curriculum(levels, x, cost_ax, error_ax)
    log_scale_if_it_helps(cost_ax, m["eval_cost"], m["train_cost"])
    log_scale_if_it_helps(error_ax, *errors)
    wall = m["wall_seconds"]
    for ax in (cost_ax, error_ax):
        ax.set_xlabel("Sequences seen")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        # Wall time above a few of the evaluations (throughput varies, so no linear scale).
        picks = np.unique(np.linspace(0, len(x) - 1, min(len(x), 6)).round().astype(int))
        top = ax.secondary_xaxis("top")
        top.set_xticks(x[picks], [f"{wall[i] / 60:.1f}" for i in picks], fontsize=8)
        top.set_xlabel("wall time (minutes)", fontsize=8)
    fig.suptitle(f"{title + ': ' if title else ''}{int(x[-1]):,} sequences in "
                 f"{wall[-1] / 60:.1f} min; last held-out cost {cost(m['eval_cost'][-1])} bits, "
                 f"{m['eval_bit_errors'][-1]:.3g} bit errors per sequence", fontsize=10)
    if path is not None:
        fig.savefig(path, dpi=100)
    return fig


def draw_curriculum(levels: np.ndarray, x: np.ndarray, *axes) -> None:
    """Marks on ``axes`` each evaluation at which the curriculum grew (a dotted vertical line,
    the new levels written beside it on the first axes): row ``i``'s ``levels`` are those its
    training batches came from, so a change from row ``i - 1`` to ``i`` grew at ``x[i - 1]``
    (from an empty cell it did not: rows written before the column existed, in a resumed run)."""
    grown = [i for i in range(1, len(levels)) if levels[i - 1] and levels[i] != levels[i - 1]]
    for n, i in enumerate(grown):
        for ax in axes:
            ax.axvline(x[i - 1], color="0.5", linestyle=":", linewidth=0.8,
                       label="curriculum grows" if n == 0 else None)
        axes[0].text(x[i - 1], 0.98, f" {levels[i]}", transform=axes[0].get_xaxis_transform(),
                     rotation=90, va="top", ha="right", fontsize=6, color="0.35")


def write_run_pictures(run_dir: str | Path, cfg: DictConfig, model: nn.Module, task: Task, *,
                       episode_seed: int = 0, size: int | None = None,
                       animate: bool = False, weights: str | None = None) -> list[Path]:
    """Writes the pictures of a run into ``run_dir/plots/`` and returns their paths:
    learning_curves.png (only once ``metrics.csv`` has a row); for an NTM memory_use.png,
    memory_contents.png, with ``animate`` memory.gif, and on priority sort
    priority_writes.png; for the Transformer
    attention.png (the LSTM baseline has neither memory nor attention to draw).

    The episode is drawn from ``episode_seed`` with ``size`` (None: the largest training
    size, so the picture shows the longest walk trained on). ``weights`` names, in the
    episode's titles, the checkpoint the model came from where it is not the last
    (``best.pt``); the learning curves come from ``metrics.csv`` whatever the weights. The model's
    mode is restored, and neither the global random state nor the training data stream is
    touched.
    """
    run_dir = Path(run_dir)
    out = run_dir / PLOTS_DIR
    out.mkdir(parents=True, exist_ok=True)
    name = f"{cfg.task.name}, {model_label(cfg)}, seed {cfg.seed}"
    weighted = f"{name} ({weights})" if weights else name  # the episodes' titles
    written = []
    metrics_path = run_dir / METRICS_NAME
    if metrics_path.is_file():
        metrics = read_metrics(metrics_path)
        if len(metrics["sequences"]):
            written.append(out / "learning_curves.png")
            plot_learning_curves(metrics, written[-1], title=name)
    if not isinstance(model, NTM | TransformerBaseline):
        return written

    size = task.largest_training_size if size is None else size
    batch, logits, trace = episode(model, task, episode_seed, size)
    errors = int(wrong_bits(logits, batch.targets, batch.mask).sum())
    title = (f"{weighted}: one episode (size {size}, seed {episode_seed}, "
             f"{len(batch.inputs)} steps), {errors} wrong bits")
    if isinstance(model, TransformerBaseline):
        written.append(out / "attention.png")
        plot_attention(batch, logits, trace, written[-1], title=title)
        return written
    written.append(out / "memory_use.png")
    plot_memory_use(batch, logits, trace, written[-1], title=title)
    written.append(out / "memory_contents.png")
    plot_memory_contents(batch.inputs, trace, written[-1], title=title)
    if animate:
        written.append(animate_memory(trace, out / "memory.gif", title=title,
                                      input_end=input_end_step(batch.inputs[:, 0])))
    if isinstance(task, PrioritySortTask):
        written.append(out / "priority_writes.png")
        plot_priority_writes(model, task, written[-1],
                             title=f"{weighted}: write location against priority, 20 sequences")
    return written


def main(argv: Sequence[str] | None = None) -> None:
    """Console entry point ``ntm-plot`` (``python -m ntm.plot``)."""
    parser = argparse.ArgumentParser(
        prog="ntm-plot", description="Draw the pictures of a trained run into RUN_DIR/plots/.")
    parser.add_argument("run_dir", type=Path, help="a run directory written by ntm.train")
    parser.add_argument("overrides", nargs="*", metavar="key=value",
                        help="config changes for the episode, e.g. task.max_length=50")
    parser.add_argument("--seed", type=int, default=0, help="the episode's seed (default 0)")
    parser.add_argument("--size", type=int, default=None,
                        help="copy length or number of items (default: largest trained)")
    parser.add_argument("--gif", action="store_true", help="also write memory.gif (slow)")
    parser.add_argument("--best", action="store_true", help=BEST_HELP)
    args = parser.parse_intermixed_args(argv)
    try:
        cfg, task, model = load_run(args.run_dir, args.overrides, best=args.best)
        if args.size is not None:  # beyond the training range: the rows it needs
            config = run_config(args.run_dir)
            added = memory_override(config, args.overrides)
            if added and args.size > trained_up_to(config, cfg):
                print(f"{added[0]} for this episode: the run trained with fewer locations "
                      "(give memory.N=... to choose).", file=sys.stderr)
                cfg, task, model = load_run(args.run_dir, [*args.overrides, *added],
                                            best=args.best)
        paths = write_run_pictures(args.run_dir, cfg, model, task, episode_seed=args.seed,
                                   size=args.size, animate=args.gif,
                                   weights=checkpoint.BEST_NAME if args.best else None)
    except (ConfigError, checkpoint.CheckpointError) as e:
        exit_with(e)
    for path in paths:
        print(path)


if __name__ == "__main__":
    main()
