"""Tests for the dynamic N-grams task: the Beta(1/2, 1/2) sampler, sequences that follow their
table, the layout, and the Bayes-optimal predictor against a slow counting reference."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
import torch
from conftest import assert_one_sentence, generator

from tasks import DynamicNGramsTask, make_task
from tasks.dynamic_ngrams import draw_beta_half, draw_sequences


def reference_probabilities(bits: list[int]) -> list[Fraction]:
    """Slow and obvious: P(bit i = 1) for i = 1..N-1, counting in a dict which bit followed
    each 5-bit context among bits 0..i-1."""
    counts: dict[tuple[int, ...], list[int]] = {}  # context -> [zeros, ones]
    predictions = []
    for i in range(1, len(bits)):
        if i < 5:
            predictions.append(Fraction(1, 2))
            continue
        context = tuple(bits[i - 5 : i])
        zeros, ones = counts.get(context, [0, 0])
        predictions.append((ones + Fraction(1, 2)) / (zeros + ones + 1))
        counts.setdefault(context, [0, 0])[bits[i]] += 1
    return predictions


def reference_cost(bits: list[int]) -> float:
    """Bits of -log2 likelihood of bits 1..N-1 under ``reference_probabilities``."""
    return sum(
        -math.log2(p if bit else 1 - p)
        for p, bit in zip(reference_probabilities(bits), bits[1:], strict=True)
    )


def arcsine_cdf(p: torch.Tensor) -> torch.Tensor:
    """The CDF of Beta(1/2, 1/2)."""
    return 2 / math.pi * torch.asin(torch.sqrt(p))


def ks_distance(samples: torch.Tensor) -> float:
    """Kolmogorov-Smirnov distance between the empirical CDF of ``samples`` and Beta(1/2, 1/2)."""
    x = samples.double().sort().values
    n = x.numel()
    cdf = arcsine_cdf(x)
    above = torch.arange(1, n + 1, dtype=torch.float64) / n - cdf
    below = cdf - torch.arange(n, dtype=torch.float64) / n
    return max(above.max().item(), below.max().item())


# --- Beta(1/2, 1/2) ---


def test_beta_half_passes_kolmogorov_smirnov_and_moments():
    samples = draw_beta_half(generator(0), (200, 100)).flatten()  # 20000 draws
    assert samples.dtype == torch.float32 and samples.min() >= 0 and samples.max() <= 1
    # For n = 20000, P(D > 0.02) < 2 exp(-2 n 0.02^2) = 2e-7; a fixed seed besides.
    assert ks_distance(samples) < 0.02
    # Mean 1/2 (sd 0.0025 here), variance 1/8 (sd 0.0006 here).
    assert samples.mean().item() == pytest.approx(0.5, abs=0.01)
    assert samples.var().item() == pytest.approx(0.125, abs=0.005)
    # The same checks reject a uniform sampler: its distance is about 0.1, variance 1/12.
    uniform = torch.rand(20000, generator=generator(0))
    assert ks_distance(uniform) > 0.05 and uniform.var().item() < 0.09


def test_beta_half_draws_only_from_the_generator():
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    a, b = draw_beta_half(generator(1), (4, 32)), draw_beta_half(generator(1), (4, 32))
    assert torch.equal(a, b) and a.shape == (4, 32)
    assert torch.equal(torch.rand(3), expected)


# --- Sequences from a table ---


def test_sequences_follow_deterministic_tables_most_recent_bit_lowest():
    g = generator(2)
    contexts = torch.arange(32)
    # P(1) = the most recent bit: after bit 4, every bit repeats it.
    repeat_last = (contexts & 1).float().expand(8, 32)
    bits = draw_sequences(g, repeat_last, 30)  # (N, B)
    assert torch.equal(bits[5:], bits[4:5].expand(25, -1))
    # P(1) = the bit five steps back (context bit 4): the first five bits repeat with period 5.
    period_five = ((contexts >> 4) & 1).float().expand(8, 32)
    bits = draw_sequences(g, period_five, 30)
    assert torch.equal(bits[5:], bits[:-5])
    # P(1) = parity of the context.
    parity = torch.tensor([bin(c).count("1") % 2 for c in range(32)]).float().expand(8, 32)
    bits = draw_sequences(g, parity, 30)
    for t in range(5, 30):
        assert torch.equal(bits[t], bits[t - 5 : t].sum(0) % 2)


def test_first_five_bits_are_fair_and_later_bits_follow_the_table():
    tables = torch.full((400, 32), 0.8)
    bits = draw_sequences(generator(3), tables, 50)  # (50, 400)
    assert bits.dtype == torch.float32 and torch.all((bits == 0) | (bits == 1))
    assert bits[:5].mean().item() == pytest.approx(0.5, abs=0.04)  # 2000 bits: sd 0.011
    assert bits[5:].mean().item() == pytest.approx(0.8, abs=0.02)  # 18000 bits: sd 0.003


def test_sample_batch_draws_tables_then_sequences_from_one_generator():
    task = DynamicNGramsTask(length=40)
    batch = task.sample_batch(generator(4), 6)
    g = generator(4)
    bits = draw_sequences(g, draw_beta_half(g, (6, 32)), 40)
    assert torch.equal(batch.inputs[:, :, 0], bits[:-1])
    assert torch.equal(batch.targets[:, :, 0], bits[1:])


# --- Layout ---


def test_widths_shapes_and_mask():
    task = DynamicNGramsTask()
    assert (task.input_width, task.output_width, task.max_steps) == (1, 1, 199)
    batch = task.sample_batch(generator(5), 16)
    assert batch.inputs.shape == batch.targets.shape == batch.mask.shape == (199, 16, 1)
    for x in (batch.inputs, batch.targets, batch.mask):
        assert x.dtype == torch.float32 and torch.all((x == 0) | (x == 1))
    assert torch.all(batch.mask == 1)
    assert torch.equal(batch.inputs[1:], batch.targets[:-1])  # step t reads what t-1 predicted


@pytest.mark.parametrize("size", [2, 6, 200, 1000])
def test_size_is_the_sequence_length(size):
    batch = DynamicNGramsTask().sample_batch(generator(6), 3, size=size)
    assert batch.inputs.shape == (size - 1, 3, 1)


def test_docstring_worked_example():
    batch = DynamicNGramsTask.layout(torch.tensor([[1.0, 0.0] * 5]).T)  # (N=10, B=1)
    assert batch.inputs[:, 0, 0].tolist() == [1, 0, 1, 0, 1, 0, 1, 0, 1]
    assert batch.targets[:, 0, 0].tolist() == [0, 1, 0, 1, 0, 1, 0, 1, 0]
    p = DynamicNGramsTask.optimal_probabilities(batch)[:, 0, 0].tolist()
    assert p == [0.5] * 6 + [0.25, 0.75, pytest.approx(1 / 6)]
    cost = DynamicNGramsTask().optimal_cost(batch)
    assert cost.item() == pytest.approx(6 + 2 * math.log2(4 / 3) + math.log2(6 / 5), abs=1e-5)
    assert cost.item() == pytest.approx(7.0931, abs=1e-4)


# --- The Bayes-optimal predictor ---


@pytest.mark.parametrize(("length", "seed"), [(200, 7), (60, 8), (7, 9)])
def test_optimal_predictor_matches_slow_counting_reference(length, seed):
    task = DynamicNGramsTask(length=length)
    batch = task.sample_batch(generator(seed), 4)
    p = task.optimal_probabilities(batch)
    cost = task.optimal_cost(batch)
    for b in range(4):
        bits = [int(batch.inputs[0, b, 0])] + batch.targets[:, b, 0].long().tolist()
        expected = [float(f) for f in reference_probabilities(bits)]
        # Exact: float32 division of the small exact counts rounds as the rational does.
        assert p[:, b, 0].tolist() == torch.tensor(expected, dtype=torch.float32).tolist()
        assert cost[b].item() == pytest.approx(reference_cost(bits), rel=1e-5)


def test_optimal_cost_is_vectorised_over_batch_and_respects_the_mask():
    task = DynamicNGramsTask()
    batch = task.sample_batch(generator(10), 8)
    cost = task.optimal_cost(batch)
    assert cost.shape == (8,) and cost.dtype == torch.float32
    bits = torch.cat([batch.inputs[:1, 3, 0], batch.targets[:, 3, 0]])  # sequence 3 alone
    one = DynamicNGramsTask.layout(bits.unsqueeze(1))
    assert task.optimal_cost(one).item() == pytest.approx(cost[3].item(), rel=1e-6)
    # The first 4 steps predict 1/2, one bit each: unscoring them removes exactly 4 bits.
    mask = batch.mask.clone()
    mask[:4] = 0
    masked = task.optimal_cost(type(batch)(batch.inputs, batch.targets, mask))
    assert torch.allclose(cost - masked, torch.full((8,), 4.0), atol=1e-4)


def test_optimal_predictor_beats_other_counting_priors_and_loses_to_the_true_table():
    """Under Beta(1/2, 1/2) tables, (N1 + 1/2) / (N + 1) has the lowest expected cost of the
    estimators (N1 + a) / (N + 2a); knowing the table does better still."""
    g = generator(11)
    tables = draw_beta_half(g, (200, 32))
    bits = draw_sequences(g, tables, 200)  # (N, B)
    optimal = DynamicNGramsTask().optimal_cost(DynamicNGramsTask.layout(bits)).mean().item()
    assert 120 < optimal < 145  # 132.2 bits on average (100k sequences) over 199 predicted bits

    def mean_cost(predict) -> float:
        """predict(counts [zeros, ones], table, context) -> P(1), on every full context."""
        total = 0.0
        for b in range(bits.shape[1]):
            sequence = bits[:, b].long().tolist()
            counts: dict[int, list[int]] = {}
            total += 4  # bits 1..4: 1/2, one bit each
            for i in range(5, len(sequence)):
                context = sum(sequence[i - 1 - k] << k for k in range(5))
                p = predict(counts.setdefault(context, [0, 0]), tables[b], context)
                total -= math.log2(max(p if sequence[i] else 1 - p, 1e-12))
                counts[context][sequence[i]] += 1
        return total / bits.shape[1]

    assert mean_cost(lambda n, *_: (n[1] + 0.5) / (sum(n) + 1)) == pytest.approx(optimal)
    # Measured gaps: about 2.2 bits each, standard error about 0.17 for 200 sequences.
    for a in (0.25, 1.0):
        assert mean_cost(lambda n, *_, a=a: (n[1] + a) / (sum(n) + 2 * a)) > optimal + 1
    assert mean_cost(lambda _, table, context: table[context].item()) < optimal - 10


@pytest.mark.parametrize(
    ("params", "setting"),
    [
        ({"length": 1}, "task.length"),
        ({"length": 200.0}, "task.length"),
        ({"length": True}, "task.length"),
    ],
)
def test_bad_settings_raise_one_sentence(params, setting):
    with pytest.raises(ValueError) as info:
        make_task("dynamic_ngrams", **params)
    assert_one_sentence(str(info.value), setting)


@pytest.mark.parametrize(("batch_size", "size"), [(0, None), (2, 1), (2, 10.0)])
def test_bad_batch_arguments(batch_size, size):
    with pytest.raises(ValueError) as info:
        DynamicNGramsTask().sample_batch(generator(0), batch_size, size=size)
    assert_one_sentence(str(info.value), "batch_size" if batch_size == 0 else "size")


@pytest.mark.gpu
def test_on_cuda_same_layout_and_optimal_cost_as_cpu():
    task = DynamicNGramsTask(length=50)
    batch = task.sample_batch(torch.Generator(device="cuda").manual_seed(12), 8)
    for x in (batch.inputs, batch.targets, batch.mask):
        assert x.device.type == "cuda"
    cost = task.optimal_cost(batch)
    assert cost.device.type == "cuda"
    assert torch.allclose(cost.cpu(), task.optimal_cost(batch.to("cpu")), rtol=1e-5)


def test_the_reference_ladder_ends_at_the_bayes_optimum() -> None:
    """benchmarks/ngram_ladder.py: its counter on 5-bit contexts is the task's optimum, and
    shorter contexts cost more."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "ngram_ladder.py"
    spec = importlib.util.spec_from_file_location("ngram_ladder", path)
    ladder = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ladder)
    task = DynamicNGramsTask(length=60)
    batch = task.sample_batch(torch.Generator().manual_seed(5), 64)
    inputs, targets = batch.inputs[..., 0].long(), batch.targets[..., 0].long()
    costs = [ladder.count_predictor_cost(inputs, targets, k) for k in range(6)]
    torch.testing.assert_close(costs[5], task.optimal_cost(batch), rtol=0, atol=1e-3)
    assert costs[0].mean() > costs[5].mean()
