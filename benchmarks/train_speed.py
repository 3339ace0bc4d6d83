"""Training throughput of the NTM on copy with the paper's settings, on this machine.

Prints, for each batch size, the median training sequences per second over repeated steps
(lengths drawn from 1..20 as in training; a step is sampling, forward, backward, clipping,
Adam) and the median forward+backward time of one batch whose sequences all have length 20.

    python benchmarks/train_speed.py [--batch-sizes 1 16 32 64] [--repeats 20] [--threads N]

Paper copy settings: LSTM controller of 100, one read and one write head, memory 128 x 20.
For comparison, the public PyTorch NTM does 13.7 sequences/s at batch 1 and
87 at batch 32 on this 2-core machine, and 124 ms (batch 1) / 717 ms (batch 32) for one
forward+backward pass at length 20.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from ntm.experiment.metrics import training_loss
from ntm.experiment.step import train_step
from ntm.models.ntm import NTM, NTMConfig, parameter_count
from tasks import CopyTask


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 16, 32, 64])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--flush-denormals", action="store_true",
                        help="flush subnormal floats to zero (ntm.train does not)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.flush_denormals:
        torch.set_flush_denormal(True)
    device = torch.device(args.device)
    torch.manual_seed(0)
    task = CopyTask()
    model = NTM(NTMConfig(task.input_width, task.output_width)).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(0)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    print(f"torch {torch.__version__}, device {device}, threads {torch.get_num_threads()}, "
          f"parameters {parameter_count(model)}, subnormals flushed: {args.flush_denormals}")
    print(f"{'batch':>5} {'train seq/s':>12} {'fwd+bwd ms @ L=20':>18} {'per seq ms':>11}")
    for batch_size in args.batch_sizes:
        rates, passes = [], []
        for i in range(args.repeats + 2):  # two warm-up repeats are dropped
            batch = task.sample_batch(generator, batch_size).to(device)
            sync()
            start = time.perf_counter()
            train_step(model, optimizer, batch, clip_grad_norm=1.0)
            sync()
            if i >= 2:
                rates.append(batch_size / (time.perf_counter() - start))
        fixed = task.sample_batch(generator, batch_size, size=20).to(device)
        for i in range(args.repeats + 2):
            sync()
            start = time.perf_counter()
            training_loss(model(fixed.inputs), fixed.targets, fixed.mask).backward()
            sync()
            if i >= 2:
                passes.append(time.perf_counter() - start)
        ms = 1000 * statistics.median(passes)
        print(f"{batch_size:>5} {statistics.median(rates):>12.1f} {ms:>18.1f} "
              f"{ms / batch_size:>11.2f}")


if __name__ == "__main__":
    main()
