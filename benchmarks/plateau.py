"""What a copy run on its plateau (about 1.6 wrong bits per sequence) gets wrong, and what its
write head does there (docs/training.md, "The plateau at 1.6 bits").

Loads a run directory, copies ``--sequences`` sequences of length ``--size`` with its model,
and prints:

- how the wrong bits are spread: the share of sequences with any wrong bit, and the wrong bits
  per such sequence (a few wrong bits in every sequence, or whole sequences lost?);
- the write head's parameters over the input phase (interpolation gate g, key strength beta,
  sharpening gamma; eq. 5-9), averaged over the steps of right and of wrong sequences;
- the share of sequences whose write focus (the location of the largest weight) does not move
  by one location at every input step: stalls or jumps back.

    python -m ntm.train seed=25 train.max_sequences=12000 model.write_gate_bias=null \\
        hydra.run.dir=runs/plateau/seed25
    python benchmarks/plateau.py runs/plateau/seed25
"""

from __future__ import annotations

import argparse

import torch

from ntm.experiment.config import ConfigError
from ntm.results.runs import load_ntm_run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir")
    parser.add_argument("--size", type=int, default=20, help="copy length (default 20)")
    parser.add_argument("--sequences", type=int, default=500)
    parser.add_argument("--seed", type=int, default=5, help="seed of the sequences")
    args = parser.parse_args()
    try:
        _, task, model = load_ntm_run(args.run_dir, "copy")
    except ConfigError as error:
        raise SystemExit(str(error)) from None
    size, read_heads = args.size, model.config.read_heads
    batch = task.sample_batch(torch.Generator().manual_seed(args.seed), args.sequences, size=size)
    with torch.no_grad():
        logits, trace = model(batch.inputs, trace=True)
        state, params = model.initial_state(args.sequences), []
        for x in batch.inputs[:size].unbind(0):  # the steps that write the sequence's vectors
            _, state, p = model.step(x, state)
            params.append(p)
    wrong = ((logits > 0).float() != batch.targets).float() * batch.mask  # [T, B, O]
    per_sequence = wrong.sum((0, 2))  # [B]
    bad = per_sequence > 0
    print(f"{args.run_dir}: length {size}, {args.sequences} sequences")
    print(f"  wrong bits per sequence {per_sequence.mean():.3f}; sequences with a wrong bit "
          f"{int(bad.sum())} ({bad.float().mean():.1%}), "
          f"{per_sequence[bad].mean() if bad.any() else 0:.1f} wrong bits each "
          f"(of {size * task.width})")
    w = read_heads  # the first write head
    print(f"  write head over the input steps:  {'right sequences':>16} {'wrong sequences':>16}")
    for name, field in (("gate g", "gate"), ("key strength beta", "key_strength"),
                        ("sharpening gamma", "sharpening")):
        values = torch.stack([getattr(p, field)[:, w] for p in params])  # [size, B]
        right = values[:, ~bad].mean() if (~bad).any() else float("nan")
        wrongs = values[:, bad].mean() if bad.any() else float("nan")
        print(f"    {name:<30} {right:>16.3f} {wrongs:>16.3f}")
    focus = trace.write_weights[:size, :, 0].argmax(-1)  # [size, B]
    n = model.config.memory_locations
    steps = (focus[1:] - focus[:-1]) % n
    direction = torch.mode(steps.flatten()).values  # the run's own direction: +1 or -1 (n - 1)
    moved = (steps == direction).all(0)
    for label, rows in (("right", ~bad), ("wrong", bad)):
        if rows.any():
            print(f"  {label} sequences whose write focus moves one location at every step: "
                  f"{moved[rows].float().mean():.1%}")


if __name__ == "__main__":
    main()
