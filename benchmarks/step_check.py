"""A training run whose every step is checked against eager: how docs/training.md ("### On a
GPU") looked for a fault of the CUDA graphs.

    python benchmarks/step_check.py device=cuda train.compile=cudagraphs train.max_minutes=3
    python benchmarks/step_check.py --no-trees device=cuda train.compile=cudagraphs ...

It runs ``ntm.train``'s own loop (``ntm.experiment.loop.train``, any overrides) with one change:
before each training step, an eager copy of the model, its parameters set to the run's, computes
the same batch's loss and gradients, and after the run's own backward pass (before clipping and
the optimizer) the two are compared. A step prints a line when its relative gradient gap
(``|g - g_eager| / |g_eager|`` over all parameters together) is above ``--show`` (or every
``--every`` steps), and the run ends with the gaps' quantiles. The compiled kernels round
differently from eager, so gaps of 1e-7..1e-4 are usual and a few steps of a long run reach
1e-2 (inductor without graphs on a GPU, 3.9e-2 once in 813 steps); a fault of the compiled step
shows as gaps near 1. It also checks that the run's parameters after its backward pass are
those the step started from, and that a step starts from the parameters the step before left
(a graph's memory written over them would show there, not in the gradients). The eager copy
roughly doubles each step's time.

It exits 1 when a gap is above ``--fail`` (0.5) or not finite, when the parameters changed
outside the optimizer, or when no step ran.

``--no-trees`` records plain CUDA graphs instead of CUDA graph trees
(``torch._inductor.config.triton.cudagraph_trees = False``).
"""

from __future__ import annotations

import argparse
import copy
import logging
import math
import sys
import tempfile
import time
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir

import ntm.experiment.loop as loop
from ntm.experiment.config import register_configs, validate
from ntm.experiment.metrics import training_loss
from ntm.experiment.step import StepResult, gradients, update
from ntm.train import CONF_DIR


class Checker:
    """The replacement of ``train_step``: the same step, its gradients compared with eager's."""

    def __init__(self, show: float, every: int):
        self.show, self.every = show, every
        self.reference: torch.nn.Module | None = None
        self.gaps: list[float] = []  # per step; inf where a gradient is missing or not finite
        self.events: list[str] = []  # printed with the step's line
        self.after: list[torch.Tensor] | None = None  # the parameters the last step left
        self.moved = 0  # steps whose parameters changed where nothing should change them

    def eager_copy(self, model: torch.nn.Module) -> torch.nn.Module:
        if self.reference is None:
            self.reference = copy.deepcopy(model)
            for name in ("step", "steps", "initial_state"):  # replacements: the class methods
                self.reference.__dict__.pop(name, None)
        return self.reference

    def check_unchanged(self, model: torch.nn.Module, expected, when: str) -> None:
        if any(not torch.equal(p, q) for p, q in zip(model.parameters(), expected,
                                                    strict=True)):
            self.moved += 1
            self.events.append(f"[parameters changed {when}]")

    def __call__(self, model, optimizer, batch, clip_grad_value=None, clip_grad_norm=None,
                 loss_per="per_bit") -> StepResult:
        if self.after is not None and not self.events:  # after an evaluation, a rollback may
            self.check_unchanged(model, self.after, "since the last step")  # load others
        reference = self.eager_copy(model)
        with torch.no_grad():
            for mine, theirs in zip(reference.parameters(), model.parameters(), strict=True):
                mine.copy_(theirs)
        reference.train()
        reference.zero_grad(set_to_none=True)
        eager_loss = training_loss(reference(batch.inputs), batch.targets, batch.mask,
                                   per=loss_per)
        eager_loss.backward()

        # ntm.experiment.step.train_step, with the checks between its two halves
        logits, loss = gradients(model, optimizer, batch, loss_per)
        self.check_unchanged(model, list(reference.parameters()), "during the step")
        self.compare(model, reference, loss, eager_loss, batch.inputs.shape[0])
        result = update(model, optimizer, logits, loss, clip_grad_value, clip_grad_norm)
        if result.nonfinite is None:
            self.after = [p.detach().clone() for p in model.parameters()]
        return result

    def compare(self, model, reference, loss, eager_loss, length: int) -> None:
        total = difference = 0.0
        worst, worst_name = 0.0, ""
        for (name, p), q in zip(model.named_parameters(), reference.parameters(), strict=True):
            if p.grad is None and q.grad is None:
                continue
            if p.grad is None or q.grad is None:  # one side has a gradient, the other none
                norm, gap = 1.0, math.inf
            else:
                norm = q.grad.norm().item()
                gap = (p.grad - q.grad).norm().item()
            total += norm ** 2
            difference += gap ** 2
            if not gap / (norm + 1e-12) <= worst:  # NaN too
                worst, worst_name = gap / (norm + 1e-12), name
        relative = math.sqrt(difference) / (math.sqrt(total) + 1e-12)
        self.gaps.append(relative if math.isfinite(relative) else math.inf)
        step = len(self.gaps)
        if not relative <= self.show or step % self.every == 0 or self.events:
            print(f"step {step:6d}  T {length:3d}  loss {loss.item():.5f} eager "
                  f"{eager_loss.item():.5f}  gradient gap {relative:.2e}  worst {worst:.2e} "
                  f"({worst_name}) {' '.join(self.events)}", flush=True)
        self.events.clear()

    def summary(self) -> str:
        gaps = sorted(self.gaps)
        if not gaps:
            return "no steps"
        at = [gaps[min(len(gaps) - 1, int(q * len(gaps)))] for q in (0.5, 0.9, 0.99)]
        above = {t: sum(g > t for g in gaps) for t in (1e-3, 1e-2, 1e-1)}
        return (f"{len(gaps)} steps: gradient gap median {at[0]:.2e}, 90% {at[1]:.2e}, "
                f"99% {at[2]:.2e}, max {gaps[-1]:.2e}; steps above 1e-3/1e-2/1e-1: "
                f"{above[1e-3]}/{above[1e-2]}/{above[1e-1]}; steps whose parameters changed "
                f"outside the optimizer: {self.moved}")

    def failed(self, threshold: float) -> bool:
        """No step, a gap above ``threshold`` (or not finite), or parameters moved."""
        return not self.gaps or max(self.gaps) > threshold or self.moved > 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("overrides", nargs="*", help="ntm.train overrides")
    parser.add_argument("--show", type=float, default=1e-2,
                        help="print every step whose gradient gap is above this")
    parser.add_argument("--every", type=int, default=100, help="and every this many steps")
    parser.add_argument("--fail", type=float, default=0.5,
                        help="exit 1 when a step's gradient gap is above this, or when the "
                             "parameters changed between steps")
    parser.add_argument("--no-trees", action="store_true",
                        help="plain CUDA graphs instead of CUDA graph trees")
    parser.add_argument("--run-dir", type=Path, default=None,
                        help="the run directory (default: a temporary one)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    if args.no_trees:
        torch._inductor.config.triton.cudagraph_trees = False
    register_configs()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("config", overrides=["train.progress=false", "train.pictures=false",
                                           *args.overrides])
    validate(cfg)
    checker = Checker(args.show, args.every)
    train_step, evaluate = loop.train_step, loop._evaluate

    def noted_evaluate(state, eval_batches, cfg):
        evaluate(state, eval_batches, cfg)
        checker.events.append(f"[after evaluation: {state.last_eval.get('bit_errors', '?')}]")

    loop.train_step, loop._evaluate = checker, noted_evaluate
    started = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            result = loop.train(cfg, args.run_dir or Path(tmp))
    finally:
        loop.train_step, loop._evaluate = train_step, evaluate
    print(f"{checker.summary()}; {time.perf_counter() - started:.0f} s; last held-out bit "
          f"errors {result.eval_bit_errors}", flush=True)
    return int(checker.failed(args.fail))


if __name__ == "__main__":
    sys.exit(main())
