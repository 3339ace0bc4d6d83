"""The hand-fused addressing + read + write (``ntm.math.fused``) against the pure functions of
``ntm.addressing`` and ``ntm.memory``: the same values, and a gradcheck in float64."""

from __future__ import annotations

import pytest
import torch

from ntm.math.addressing import address
from ntm.math.fused import fused_address_read_write
from ntm.math.memory import read, write

pytestmark = pytest.mark.usefixtures("isolated_torch")


def inputs(read_heads: int, write_heads: int, radius: int, batch: int = 2, n: int = 7,
           m: int = 3) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(read_heads * 100 + write_heads * 10 + radius)
    heads = read_heads + write_heads

    def randn(*shape):
        return torch.randn(*shape, generator=generator, dtype=torch.float64)

    return [t.requires_grad_() for t in (
        randn(batch, n, m), torch.softmax(randn(batch, heads, n), -1),
        torch.tanh(randn(batch, heads, m)), 3 * torch.sigmoid(randn(batch, heads)),
        torch.sigmoid(randn(batch, heads)), torch.softmax(randn(batch, heads, 2 * radius + 1), -1),
        1 + torch.nn.functional.softplus(randn(batch, heads)),
        torch.sigmoid(randn(batch, write_heads, m)), torch.tanh(randn(batch, write_heads, m)),
    )]


CASES = [(1, 1, 1), (2, 1, 2), (1, 0, 1), (0, 1, 3), (1, 2, 1), (3, 1, 1)]


@pytest.mark.parametrize("read_heads, write_heads, radius", CASES)
def test_fused_equals_the_pure_functions(read_heads, write_heads, radius) -> None:
    xs = inputs(read_heads, write_heads, radius)
    weights = address(*xs[:7])
    expected = (weights, read(xs[0], weights[:, :read_heads]),
                write(xs[0], weights[:, read_heads:], xs[7], xs[8]))
    for got, want in zip(fused_address_read_write(*xs, read_heads), expected, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("read_heads, write_heads, radius", CASES)
def test_fused_backward_passes_gradcheck(read_heads, write_heads, radius) -> None:
    xs = inputs(read_heads, write_heads, radius)
    assert torch.autograd.gradcheck(
        lambda *a: fused_address_read_write(*a, read_heads), xs)
