"""Seconds to solve, from process start, of a task's default run over several seeds.

    python benchmarks/time_to_solve.py                                  # copy, seeds 0-9
    python benchmarks/time_to_solve.py --seeds 0-4 task=associative_recall
    python benchmarks/time_to_solve.py --keep runs/tts/copy    # keeps the run directories
    python benchmarks/time_to_solve.py --against 'train.batch_size=16 train.eval_every=50'

Runs ``python -m ntm.train seed=S <overrides>`` once per seed, one process at a time (so each
has the whole machine, with torch's default threads unless an override sets
``train.threads``), each into a fresh temporary run directory (or ``--keep``'s folder). For
every seed it prints the sequences to solve (from the run's ``metrics.csv``), the training
seconds to solve (the run's own ``wall_seconds``: the training loop with its evaluations,
without the start-up) and the seconds from the moment the process was started to the log line
that reports the solve (imports, building and compiling included), then the medians over the
solved seeds and how many solved. A run that stops unsolved (its budget spent) counts as not
solved. Nothing is asserted: the figures are what this machine measured. ``--against``
compares two settings side by side: each seed runs both, one after the other, in an order that
alternates from seed to seed, and the end gives the median ratio of their seconds.
``train_speed.py --time-to-solve`` times its eager and compiled runs with ``one_run`` too.
"""

from __future__ import annotations

import argparse
import csv
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOLVED = "Solved "  # the start of the message ntm.train logs at the evaluation that solves


def seeds(text: str) -> list[int]:
    """``"0-9"`` or ``"0,3,5"``."""
    if "-" in text:
        low, high = text.split("-", 1)
        return list(range(int(low), int(high) + 1))
    return [int(part) for part in text.split(",")]


def solved_at(log: Path) -> float | None:
    """The time (seconds since the epoch) of the log line reporting the solve, or None."""
    for line in log.read_text().splitlines():
        if SOLVED in line and line.startswith("["):
            stamp = line[1:line.index("]")]
            return datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").timestamp()
    return None


def one_run(seed: int, overrides: list[str], root: Path,
            env: dict[str, str] | None = None) -> dict[str, float | None]:
    """Trains ``seed`` with ``overrides`` into ``root/seed<seed>`` in a process of its own (with
    the environment ``env``, default this one's); its sequences, training seconds and seconds
    from process start at the solve, each None when it did not solve."""
    run_dir = root / f"seed{seed}"
    command = [sys.executable, "-m", "ntm.train", f"seed={seed}", f"hydra.run.dir={run_dir}",
               "train.progress=false", *overrides]
    start = time.time()
    done = subprocess.run(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True, errors="replace")
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-15:])
        raise RuntimeError(f"seed {seed} failed (exit code {done.returncode}): "
                           f"{' '.join(command[1:])}\n{tail}")
    at = solved_at(run_dir / "train.log")
    if at is None:
        return {"sequences": None, "training_seconds": None, "process_seconds": None}
    with open(run_dir / "metrics.csv", newline="") as f:
        last = list(csv.DictReader(f))[-1]  # the run stops at the evaluation that solves
    return {"sequences": float(last["sequences"]),
            "training_seconds": float(last["wall_seconds"]),
            "process_seconds": at - start}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=seeds, default=list(range(10)),
                        help="a range (0-9) or a list (0,3,5); default 0-9")
    parser.add_argument("--keep", type=Path, default=None,
                        help="keep the run directories under this folder (seed<S> each; "
                             "A/seed<S> and B/seed<S> with --against), for example to evaluate "
                             "them afterwards; default: a temporary folder")
    parser.add_argument("--against", default=None, metavar="'KEY=VALUE ...'",
                        help="a second setting, B, as overrides added to the common ones (one "
                             "quoted argument, space-separated): every seed runs A (the common "
                             "overrides alone) and B one after the other, the order alternating "
                             "from seed to seed, so both see the same drift of the machine")
    parser.add_argument("overrides", nargs="*", help="settings for every run, key=value")
    args = parser.parse_args()
    arms = {"": args.overrides} if args.against is None else {
        "A": args.overrides, "B": [*args.overrides, *shlex.split(args.against)]}
    if args.keep is not None:
        taken = [f"{arm}/seed{s}".lstrip("/") for arm in arms for s in args.seeds
                 if (args.keep / arm / f"seed{s}").exists()]
        if taken:  # a run directory with a checkpoint would resume, not start afresh
            parser.error(f"--keep {args.keep} already holds {taken[0]}; choose an empty "
                         "folder.")
    for arm, overrides in arms.items():
        print(f"{arm + ': ' if arm else ''}python -m ntm.train {' '.join(overrides)}")
    print("one run at a time")
    label = "arm  " if args.against is not None else ""
    print(f"{'seed':>4}  {label}{'sequences':>9}  {'training s':>10}  {'process s':>9}")
    results: dict[str, list[dict[str, float | None]]] = {arm: [] for arm in arms}
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep if args.keep is not None else Path(tmp)
        for i, seed in enumerate(args.seeds):
            order = list(arms) if i % 2 == 0 else list(reversed(arms))
            for arm in order:
                result = one_run(seed, arms[arm], root / arm)
                results[arm].append(result)
                prefix = f"{seed:>4}  {arm + '    ' if arm else ''}"
                if result["sequences"] is None:
                    print(f"{prefix}{'not solved':>9}", flush=True)
                else:
                    print(f"{prefix}{result['sequences']:>9,.0f}  "
                          f"{result['training_seconds']:>10.1f}  "
                          f"{result['process_seconds']:>9.1f}", flush=True)
    for arm, runs in results.items():
        solved = [r for r in runs if r["sequences"] is not None]
        line = f"{arm + ': ' if arm else ''}solved {len(solved)} of {len(runs)}"
        if solved:
            line += ("; median over the solved: "
                     f"{statistics.median(r['sequences'] for r in solved):,.0f} sequences, "
                     f"{statistics.median(r['training_seconds'] for r in solved):.1f} s of "
                     f"training, {statistics.median(r['process_seconds'] for r in solved):.1f} "
                     "s from process start")
        print(line)
    if args.against is not None:
        ratios = [a["process_seconds"] / b["process_seconds"]
                  for a, b in zip(results["A"], results["B"], strict=True)
                  if a["process_seconds"] is not None and b["process_seconds"] is not None]
        if ratios:
            print(f"A / B seconds from process start, per seed where both solved: median "
                  f"{statistics.median(ratios):.2f} (range {min(ratios):.2f}-{max(ratios):.2f},"
                  f" {len(ratios)} seeds)")


if __name__ == "__main__":
    main()
