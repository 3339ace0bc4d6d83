"""One optimisation step, and the check that decides whether it may be taken.

Imports torch and the loss only (no Hydra, no config), so a benchmark can time exactly the
step ``ntm.train`` takes.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from ntm.experiment.metrics import training_loss
from tasks import Batch

__all__ = ["StepResult", "first_nonfinite", "gradients", "train_step", "update"]


class StepResult(NamedTuple):
    logits: torch.Tensor  # [T, B, out], detached
    nonfinite: str | None  # None, or what was not finite: the step was skipped


def first_nonfinite(model: torch.nn.Module, loss: torch.Tensor) -> str | None:
    """None when ``loss`` and every gradient of ``model`` are finite; else "the loss" or "the
    gradient of NAME" for the first parameter, in model order, whose gradient is not.

    The happy path is one fused norm per gradient and one sync with the device; parameters are
    searched only when it fails. A gradient whose norm overflows float32 counts as not finite.
    """
    named = [(name, p.grad) for name, p in model.named_parameters() if p.grad is not None]
    norms = torch._foreach_norm([grad for _, grad in named])  # what clip_grad_norm_ uses
    if torch.isfinite(torch.stack([loss.detach(), *norms])).all():
        return None
    if not torch.isfinite(loss):
        return "the loss"
    return next((f"the gradient of {name}" for (name, _), norm in zip(named, norms, strict=True)
                 if not torch.isfinite(norm)), "the gradient norm")


def train_step(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    batch: Batch,
    clip_grad_value: float | None = None,
    clip_grad_norm: float | None = None,
    loss_per: str = "per_bit",
) -> StepResult:
    """One optimisation step on ``batch``, or none when the loss or a gradient is not finite:
    then the parameters and the optimizer's state (Adam's step count and moments too) are
    left exactly as they were, and ``nonfinite`` says what was not finite. ``loss_per``: what
    the objective averages (``train.loss``; ``training_loss``'s ``per``)."""
    logits, loss = gradients(model, optimizer, batch, loss_per)
    return update(model, optimizer, logits, loss, clip_grad_value, clip_grad_norm)


def gradients(model: torch.nn.Module, optimizer: torch.optim.Optimizer, batch: Batch,
              loss_per: str = "per_bit") -> tuple[torch.Tensor, torch.Tensor]:
    """The first half of ``train_step``: the logits [T, B, out] and the loss of ``batch``,
    with the gradients of the loss in the parameters' ``.grad`` (the old ones cleared)."""
    model.train()
    logits = model(batch.inputs)
    loss = training_loss(logits, batch.targets, batch.mask, per=loss_per)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    return logits, loss


def update(model: torch.nn.Module, optimizer: torch.optim.Optimizer, logits: torch.Tensor,
           loss: torch.Tensor, clip_grad_value: float | None = None,
           clip_grad_norm: float | None = None) -> StepResult:
    """The second half of ``train_step``: clips the gradients ``gradients`` left and takes the
    optimizer's step, or skips it when the loss or a gradient is not finite."""
    nonfinite = first_nonfinite(model, loss)  # before clipping: value clipping hides an inf
    if nonfinite is not None:
        optimizer.zero_grad(set_to_none=True)
        return StepResult(logits.detach(), nonfinite)
    if clip_grad_value is not None:
        torch.nn.utils.clip_grad_value_(model.parameters(), clip_grad_value)
    if clip_grad_norm is not None:
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip_grad_norm)
    optimizer.step()
    return StepResult(logits.detach(), None)
