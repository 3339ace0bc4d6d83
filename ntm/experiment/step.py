"""One optimisation step, and the check that decides whether it may be taken.

Imports torch and the loss only (no Hydra, no config), so a benchmark can time exactly the
step ``ntm.train`` takes.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

from ntm.experiment.metrics import training_loss
from tasks import Batch

__all__ = ["StepResult", "first_nonfinite", "gradients", "scale_to_norm_", "train_step", "update"]


class StepResult(NamedTuple):
    logits: torch.Tensor  # [T, B, out], detached
    nonfinite: str | None  # None, or what was not finite: the step was skipped
    scaled: bool = False  # its finite gradient's norm overflowed float32 and was clipped


def first_nonfinite(model: torch.nn.Module, loss: torch.Tensor,
                    clipped: bool = False) -> str | None:
    """None when ``loss`` and every gradient of ``model`` are finite; else "the loss" or "the
    gradient of NAME" for the first parameter, in model order, whose gradient is not.

    A gradient whose every element is finite but whose norm (or the total norm) overflows
    float32 is finite when the step clips (``clipped``: ``update`` scales it down); unclipped
    it counts as not finite ("the gradient norm" when only the total overflows): a step that
    large would throw the parameters and the optimizer's moments out of any useful range.
    """
    return _check(model, loss, clipped)[0]


def _check(model: torch.nn.Module, loss: torch.Tensor,
           clipped: bool) -> tuple[str | None, torch.Tensor | None]:
    """``first_nonfinite``'s answer, and the total gradient norm when it is a float32 (None
    when it overflowed with every element finite, which only a ``clipped`` step accepts). The
    happy path is one fused norm per gradient, their total (``clip_grad_norm_``'s, reused by
    ``update``) and one sync with the device; parameters are searched only when it fails."""
    named = [(name, p.grad) for name, p in model.named_parameters() if p.grad is not None]
    grads = [grad for _, grad in named]
    norms = torch._foreach_norm(grads)  # what clip_grad_norm_ computes
    total = torch.linalg.vector_norm(torch.stack(norms))
    if torch.isfinite(torch.stack([loss.detach(), total])).all():
        return None, total
    if not torch.isfinite(loss):
        return "the loss", None
    if clipped:  # largest |element| per gradient (NaN and inf carry through): one sync
        finite = torch.stack(torch._foreach_norm(grads, math.inf)).isfinite().tolist()
        bad = next((name for (name, _), ok in zip(named, finite, strict=True) if not ok), None)
        return (None, None) if bad is None else (f"the gradient of {bad}", None)
    return next((f"the gradient of {name}" for (name, _), norm in zip(named, norms, strict=True)
                 if not torch.isfinite(norm)), "the gradient norm"), None


def scale_to_norm_(grads: list[torch.Tensor], max_norm: float) -> None:
    """Scales ``grads``, whose elements are finite but whose norm overflows float32, to the
    total norm ``max_norm``: first by their largest element, then by the norm of what is left
    (``torch.nn.utils.clip_grad_norm_`` would scale them by max_norm / inf = 0).

    An NTM's true gradient can be that large: sharpening (eq. 9) multiplies a gradient by up
    to gamma (at most 21 here) at every step it passes back through a weighting split between
    two locations, and 30 such steps give 21^30, about 5e39 (docs/training.md).
    """
    largest = torch.stack(torch._foreach_norm(grads, math.inf)).amax()
    torch._foreach_div_(grads, largest)  # every element in [-1, 1] now
    torch._foreach_mul_(grads, max_norm / torch.linalg.vector_norm(
        torch.stack(torch._foreach_norm(grads))))


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
    clipped = clip_grad_value is not None or clip_grad_norm is not None
    # Before clipping: value clipping would hide an inf.
    nonfinite, total = _check(model, loss, clipped)
    if nonfinite is not None:
        optimizer.zero_grad(set_to_none=True)
        return StepResult(logits.detach(), nonfinite)
    if clip_grad_value is not None:
        torch.nn.utils.clip_grad_value_(model.parameters(), clip_grad_value)
        if clip_grad_norm is not None:  # the norm changed (and is finite now: values <= 1e6)
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip_grad_norm)
    elif clip_grad_norm is not None and total is None:  # a norm past float32's range
        scale_to_norm_([p.grad for p in model.parameters() if p.grad is not None], clip_grad_norm)
    elif clip_grad_norm is not None:  # clip_grad_norm_ with the total already computed
        torch.nn.utils.clip_grads_with_norm_(model.parameters(), clip_grad_norm, total)
    optimizer.step()
    return StepResult(logits.detach(), None, scaled=total is None)
