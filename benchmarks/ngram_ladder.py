"""Reference costs for dynamic N-grams: the count predictor on contexts of k = 0..5 bits.

    python benchmarks/ngram_ladder.py [--sequences 1000] [--seed 1000003]

Predicts each next bit with (N1 + 1/2) / (N0 + N1 + 1), N1 and N0 counting what followed the
last k bits so far in the sequence (k = 5 is the Bayes-optimal predictor of
``tasks.DynamicNGramsTask``; steps with fewer than k bits read predict 1/2). Prints the mean cost
in bits per sequence for each k on the held-out set that training evaluates on (batches of 500
drawn in turn from ``train.eval_seed``), so a learning curve can be read as "the model has
found contexts of about k bits".
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tasks import DynamicNGramsTask  # noqa: E402


def count_predictor_cost(inputs: torch.Tensor, targets: torch.Tensor, k: int) -> torch.Tensor:
    """[T, B] bits read and [T, B] next bits -> [B] cost in bits of the order-k counter."""
    steps, batch = inputs.shape
    contexts = 2**k
    counts = torch.zeros(batch, 2 * contexts)
    context = torch.zeros(batch, dtype=torch.int64)
    cost = torch.zeros(batch)
    for t in range(steps):
        context = ((context << 1) | inputs[t]) & (contexts - 1)
        if t < k - 1:  # fewer than k bits read
            cost += 1.0
            continue
        zeros = counts.gather(1, (2 * context).unsqueeze(1)).squeeze(1)
        ones = counts.gather(1, (2 * context + 1).unsqueeze(1)).squeeze(1)
        p_one = (ones + 0.5) / (ones + zeros + 1.0)
        cost -= torch.log2(torch.where(targets[t] == 1, p_one, 1.0 - p_one))
        counts.scatter_add_(1, (2 * context + targets[t]).unsqueeze(1), torch.ones(batch, 1))
    return cost


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sequences", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1000003)
    args = parser.parse_args()
    task = DynamicNGramsTask()
    generator = torch.Generator().manual_seed(args.seed)
    sizes = [500] * (args.sequences // 500) + ([args.sequences % 500] if args.sequences % 500
                                                else [])
    batches = [task.sample_batch(generator, size) for size in sizes]
    inputs = torch.cat([b.inputs[..., 0].long() for b in batches], dim=1)
    targets = torch.cat([b.targets[..., 0].long() for b in batches], dim=1)
    optimal = torch.cat([task.optimal_cost(b) for b in batches]).mean().item()
    print(f"{'k':>3} {'bits per sequence':>18}   ({args.sequences} sequences, seed {args.seed})")
    for k in range(6):
        print(f"{k:>3} {count_predictor_cost(inputs, targets, k).mean().item():>18.1f}")
    print(f"Bayes-optimal (DynamicNGramsTask.optimal_cost): {optimal:.1f}")


if __name__ == "__main__":
    main()
