"""Where an associative-recall rule fails with more items than it trained on: the write head's
walk and the read heads' lookup (docs/training.md, "Training on past the solve, and longer").

Loads a run directory, runs ``--sequences`` sequences of each number of items with its model,
and prints for each:

- the share of sequences with a wrong bit, and the wrong bits per sequence;
- whether the first write head gives every item vector a location of its own (its focus, the
  location of the largest weight, differs at every vector step), and how sharp it writes;
- for every read head, its largest weight and its key strength beta (eq. 5) at each step from
  the query delimiter to the last answer step, and its largest weight at the first answer step
  in the right and in the wrong sequences. A lookup by content that spreads over near-matches
  as the items grow shows as a largest weight that falls with the number of items.

    python -m ntm.train task=associative_recall controller=feedforward \\
        hydra.run.dir=runs/recall_ff
    python benchmarks/recall_lookup.py runs/recall_ff --sizes 6,20
"""

from __future__ import annotations

import argparse

import torch

from ntm.experiment.config import ConfigError
from ntm.experiment.metrics import bit_errors_per_sequence
from ntm.results.runs import load_ntm_run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir")
    parser.add_argument("--sizes", default=None,
                        help="numbers of items, comma-separated (default: the task's "
                             "generalisation sizes)")
    parser.add_argument("--sequences", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7, help="seed of the sequences (plus size)")
    args = parser.parse_args()
    try:
        _, task, model = load_ntm_run(args.run_dir, "associative_recall")
    except ConfigError as error:
        raise SystemExit(str(error)) from None
    sizes = ([int(s) for s in args.sizes.split(",")] if args.sizes
             else list(task.generalisation_sizes))
    length, read_heads = task.item_length, model.config.read_heads
    print(f"{args.run_dir}: {args.sequences} sequences a size")
    for n in sizes:
        batch = task.sample_batch(torch.Generator().manual_seed(args.seed + n), args.sequences,
                                  size=n)
        with torch.no_grad():  # the traced pass, then the steps again for the key strengths,
            # from the same initial memory (memory.init=random draws it from the generator)
            logits, trace = model(batch.inputs, trace=True,
                                  generator=torch.Generator().manual_seed(args.seed))
            state = model.initial_state(args.sequences,
                                        torch.Generator().manual_seed(args.seed))
            strengths = []
            for x in batch.inputs.unbind(0):
                _, state, p = model.step(x, state)
                strengths.append(p.key_strength[:, :read_heads])
        strengths = torch.stack(strengths)  # [T, B, Hr]
        wrong = bit_errors_per_sequence(logits, batch.targets, batch.mask)
        bad = wrong > 0
        print(f"{n} items: sequences with a wrong bit {bad.float().mean():.1%}, "
              f"{wrong.mean():.2f} wrong bits per sequence")
        vector_steps = [i * (length + 1) + 1 + j for i in range(n) for j in range(length)]
        if model.config.write_heads:
            write = trace.write_weights[vector_steps, :, 0]  # [nL, B, N]
            focus = write.argmax(-1)
            own = torch.tensor([len(set(column.tolist())) == len(vector_steps)
                                for column in focus.T])
            print(f"  write head 1: every vector a location of its own in "
                  f"{own.float().mean():.1%} of sequences; largest weight "
                  f"{write.max(-1).values.mean():.2f}")
        first = n * (length + 1)  # the query delimiter; the answer is the last `length` steps
        for h in range(read_heads):
            largest = trace.read_weights[first:, :, h].max(-1).values  # [steps, B]
            print(f"  read head {h + 1}, query delimiter to last answer step: largest weight "
                  + " ".join(f"{v:.2f}" for v in largest.mean(1).tolist()))
            print(f"  {'':<51}key strength   "
                  + " ".join(f"{v:.2f}" for v in strengths[first:, :, h].mean(1).tolist()))
            answer = largest[-length]  # [B], the first answer step
            parts = [f"{label} {answer[rows].mean():.2f}" for label, rows
                     in (("right", ~bad), ("wrong", bad)) if rows.any()]
            print(f"    largest weight at the first answer step: {', '.join(parts)}")


if __name__ == "__main__":
    main()
