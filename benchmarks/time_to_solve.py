"""Seconds to solve, from process start, of a task's default run over several seeds.

    python benchmarks/time_to_solve.py                                  # copy, seeds 0-9
    python benchmarks/time_to_solve.py --seeds 0-4 task=associative_recall

Runs ``python -m ntm.train seed=S <overrides>`` once per seed, one process at a time (so each
has the whole machine, with torch's default threads unless an override sets
``train.threads``), each into a fresh temporary run directory. For every seed it prints the
sequences to solve (from the run's ``metrics.csv``), the training seconds to solve (the run's
own ``wall_seconds``: the training loop with its evaluations, without the start-up) and the
seconds from the moment the process was started to the log line that reports the solve
(imports, building and compiling included), then the medians over the solved seeds and how
many solved. A run that stops unsolved (its budget spent) counts as not solved. Nothing is
asserted: the figures are what this machine measured. ``train_speed.py --time-to-solve`` times
its eager and compiled runs with ``one_run`` too.
"""

from __future__ import annotations

import argparse
import csv
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
    subprocess.run(command, env=env, cwd=ROOT, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
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
    parser.add_argument("overrides", nargs="*", help="settings for every run, key=value")
    args = parser.parse_args()
    print(f"python -m ntm.train {' '.join(args.overrides)}: one run at a time")
    print(f"{'seed':>4}  {'sequences':>9}  {'training s':>10}  {'process s':>9}")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            result = one_run(seed, args.overrides, Path(tmp))
            results.append(result)
            if result["sequences"] is None:
                print(f"{seed:>4}  {'not solved':>9}", flush=True)
            else:
                print(f"{seed:>4}  {result['sequences']:>9,.0f}  "
                      f"{result['training_seconds']:>10.1f}  {result['process_seconds']:>9.1f}",
                      flush=True)
    solved = [r for r in results if r["sequences"] is not None]
    print(f"solved {len(solved)} of {len(results)}")
    if solved:
        print("median over the solved: "
              f"{statistics.median(r['sequences'] for r in solved):,.0f} sequences, "
              f"{statistics.median(r['training_seconds'] for r in solved):.1f} s of training, "
              f"{statistics.median(r['process_seconds'] for r in solved):.1f} s from process "
              "start")


if __name__ == "__main__":
    main()
