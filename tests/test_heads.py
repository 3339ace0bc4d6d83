"""Tests of ntm/models/heads.py: the map from controller output to every head's parameters.

Checks: each parameter lies in its documented range (section 2 of the spec), shapes for several
head counts and shift radii, the documented layout of the one linear layer (which output feeds
which parameter), and that clipping bounds the parameters while ``clip=None`` turns it off.
"""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from ntm.models.heads import HeadParameters, Heads

F64 = torch.float64
PROPERTY = settings(max_examples=40, deadline=None)


def make_heads(c=6, read=1, write=1, m=4, r=1, clip=20.0, seed=0, dtype=F64) -> Heads:
    torch.manual_seed(seed)
    return Heads(c, read, write, m, r, clip).to(dtype)


def addressing_size(m: int, r: int) -> int:
    """Per head: key (M), key strength, sharpening, gate, shift weighting (2R + 1)."""
    return m + 1 + 1 + 1 + (2 * r + 1)


def assert_ranges(p: HeadParameters, closed: bool = False) -> None:
    """Every parameter in its range; ``closed`` allows the ends (float32 saturation)."""
    lt = torch.le if closed else torch.lt
    for name in ("key", "add"):
        v = getattr(p, name)
        assert lt(v.abs(), 1).all(), name
    for name in ("gate", "erase"):
        v = getattr(p, name)
        assert (lt(torch.zeros_like(v), v) & lt(v, torch.ones_like(v))).all(), name
    assert (p.key_strength >= 0).all()
    assert (p.sharpening >= 1).all()
    s = p.shift_weighting
    assert (s >= 0).all()
    atol = 1e-12 if s.dtype == F64 else 1e-6
    torch.testing.assert_close(s.sum(-1), torch.ones_like(s.sum(-1)), rtol=0, atol=atol)
    for v in p:
        assert torch.isfinite(v).all()


# ---------------------------------------------------------------------------------------------
# Ranges and shapes
# ---------------------------------------------------------------------------------------------


@PROPERTY
@given(
    seed=st.integers(0, 2**31 - 1),
    scale=st.floats(0.01, 1.0),
    read=st.integers(0, 3),
    write=st.integers(0, 3),
    r=st.integers(0, 3),
)
def test_parameters_in_range_for_random_controller_outputs(seed, scale, read, write, r):
    """Controller outputs lie in (-1, 1) (tanh layers, LSTM hidden states); the raw linear
    outputs are then small and every parameter is strictly inside its open range."""
    if read + write == 0:
        read = 1
    heads = make_heads(c=7, read=read, write=write, m=5, r=r, seed=seed)
    gen = torch.Generator().manual_seed(seed)
    h = scale * (2 * torch.rand(3, 7, generator=gen, dtype=F64) - 1)
    assert_ranges(heads(h))


@PROPERTY
@given(
    seed=st.integers(0, 2**31 - 1),
    scale=st.floats(1.0, 1e4),
    clip=st.sampled_from([None, 1.0, 20.0]),
    dtype=st.sampled_from([F64, torch.float32]),
)
def test_parameters_in_closed_range_for_any_controller_outputs(seed, scale, clip, dtype):
    """Large raw outputs saturate tanh and sigmoid to exactly +-1, 0 or 1 in floating point
    (tanh(x) == 1.0 for x > 19.1 in float64): the ranges then hold with their ends, and every
    parameter stays finite, with or without clipping."""
    heads = make_heads(c=7, read=2, write=2, m=5, r=2, clip=clip, seed=seed, dtype=dtype)
    gen = torch.Generator().manual_seed(seed)
    h = scale * torch.randn(3, 7, generator=gen, dtype=dtype)
    assert_ranges(heads(h), closed=True)


def test_parameters_in_closed_range_when_saturated_in_float32():
    """Raw outputs at +-clip saturate tanh and sigmoid to exactly +-1, 0, 1 in float32: the
    parameters stay in the closed ranges and finite."""
    heads = make_heads(c=5, read=2, write=2, m=3, r=2, clip=20.0, dtype=torch.float32)
    with torch.no_grad():
        heads.linear.weight.mul_(1e4)
    h = torch.randn(4, 5)
    assert_ranges(heads(h), closed=True)
    assert_ranges(heads(-h), closed=True)


@pytest.mark.parametrize(
    "read, write, m, r", [(1, 1, 20, 1), (2, 1, 4, 0), (1, 3, 3, 2), (4, 4, 6, 1), (3, 0, 5, 1),
                          (0, 2, 5, 3)]
)
def test_shapes(read, write, m, r):
    b, c = 5, 7
    p = make_heads(c, read, write, m, r)(torch.randn(b, c, dtype=F64))
    h = read + write
    assert p.key.shape == (b, h, m)
    assert p.key_strength.shape == (b, h)
    assert p.gate.shape == (b, h)
    assert p.shift_weighting.shape == (b, h, 2 * r + 1)
    assert p.sharpening.shape == (b, h)
    assert p.erase.shape == (b, write, m)
    assert p.add.shape == (b, write, m)


@pytest.mark.parametrize("read, write, m, r", [(1, 1, 20, 1), (2, 3, 4, 2), (0, 1, 3, 0)])
def test_linear_output_size_matches_documented_layout(read, write, m, r):
    heads = make_heads(c=9, read=read, write=write, m=m, r=r)
    expected = (read + write) * (m + 3 + 2 * r + 1) + write * 2 * m
    assert heads.linear.out_features == expected
    assert heads.linear.in_features == 9
    assert heads.addressing_size == addressing_size(m, r)


def test_layout_which_output_feeds_which_parameter():
    """With zero weights the linear output is its bias: give every output a distinct value and
    check each parameter is the documented activation of its own slice.

    Layout: head h (read heads first) owns [h*P, (h+1)*P) with P = M + 3 + 2R + 1, in the order
    key (M), key strength, sharpening, gate, shift weighting (2R + 1); then write head j owns
    [H*P + 2Mj, H*P + 2M(j+1)): erase (M), add (M).
    """
    read, write, m, r = 2, 2, 3, 1
    heads = make_heads(c=4, read=read, write=write, m=m, r=r, clip=None)
    n_out = heads.linear.out_features
    raw = torch.linspace(-3.0, 3.0, n_out, dtype=F64)
    with torch.no_grad():
        heads.linear.weight.zero_()
        heads.linear.bias.copy_(raw)
    p = heads(torch.randn(2, 4, dtype=F64))
    size = addressing_size(m, r)
    for h in range(read + write):
        o = h * size
        torch.testing.assert_close(p.key[:, h], torch.tanh(raw[o : o + m]).expand(2, -1))
        torch.testing.assert_close(p.key_strength[:, h], F.softplus(raw[o + m]).expand(2))
        torch.testing.assert_close(p.sharpening[:, h], (1 + F.softplus(raw[o + m + 1])).expand(2))
        torch.testing.assert_close(p.gate[:, h], torch.sigmoid(raw[o + m + 2]).expand(2))
        shifts = torch.softmax(raw[o + m + 3 : o + size], dim=0)
        torch.testing.assert_close(p.shift_weighting[:, h], shifts.expand(2, -1))
    base = (read + write) * size
    for j in range(write):
        o = base + 2 * m * j
        torch.testing.assert_close(p.erase[:, j], torch.sigmoid(raw[o : o + m]).expand(2, -1))
        torch.testing.assert_close(p.add[:, j], torch.tanh(raw[o + m : o + 2 * m]).expand(2, -1))


def test_rows_of_the_batch_are_independent():
    heads = make_heads(c=6, read=2, write=1, m=4, r=1)
    h = torch.randn(3, 6, dtype=F64)
    together = heads(h)
    for b in range(3):
        alone = heads(h[b : b + 1])
        for a, t in zip(alone, together, strict=True):
            torch.testing.assert_close(a[0], t[b], rtol=0, atol=1e-12)


# ---------------------------------------------------------------------------------------------
# Clipping
# ---------------------------------------------------------------------------------------------


def saturated_heads(sign: float, clip: float | None, magnitude: float = 1e6) -> Heads:
    """Heads whose every raw linear output is ``sign * magnitude`` for any input."""
    heads = make_heads(c=3, read=1, write=1, m=2, r=1, clip=clip)
    with torch.no_grad():
        heads.linear.weight.zero_()
        heads.linear.bias.fill_(sign * magnitude)
    return heads


@pytest.mark.parametrize("clip", [0.5, 3.0, 20.0])
@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_clip_bounds_the_parameters(clip, sign):
    p = saturated_heads(sign, clip)(torch.randn(2, 3, dtype=F64))
    c = torch.tensor(sign * clip, dtype=F64)
    torch.testing.assert_close(p.key_strength, F.softplus(c).expand(2, 2))
    torch.testing.assert_close(p.sharpening, (1 + F.softplus(c)).expand(2, 2))
    torch.testing.assert_close(p.gate, torch.sigmoid(c).expand(2, 2))
    torch.testing.assert_close(p.key, torch.tanh(c).expand(2, 2, 2))
    torch.testing.assert_close(p.erase, torch.sigmoid(c).expand(2, 1, 2))
    torch.testing.assert_close(p.add, torch.tanh(c).expand(2, 1, 2))
    # every shift logit is clipped to the same value: a uniform distribution over 2R+1 = 3
    torch.testing.assert_close(p.shift_weighting, torch.full((2, 2, 3), 1 / 3, dtype=F64))


def test_raw_outputs_beyond_clip_do_not_change_the_parameters():
    """Any raw output past the clip gives the same parameters, and no gradient flows back."""
    clip = 5.0
    ps = [saturated_heads(1.0, clip, magnitude)(torch.zeros(1, 3, dtype=F64))
          for magnitude in (clip + 0.1, 50.0, 1e6)]
    for a, b in itertools.pairwise(ps):
        for x, y in zip(a, b, strict=True):
            torch.testing.assert_close(x, y, rtol=0, atol=0)
    heads = saturated_heads(1.0, clip, 50.0)
    sum(v.sum() for v in heads(torch.randn(2, 3, dtype=F64))).backward()
    assert heads.linear.bias.grad.abs().max() == 0
    assert heads.linear.weight.grad.abs().max() == 0


def test_outputs_inside_clip_are_unchanged():
    """Clipping only acts beyond +-clip: small raw outputs give the same as clip=None."""
    h = torch.randn(4, 6, dtype=F64)
    clipped = make_heads(c=6, read=2, write=2, m=3, r=1, clip=20.0, seed=3)
    unclipped = make_heads(c=6, read=2, write=2, m=3, r=1, clip=None, seed=3)
    assert clipped.linear(h).abs().max() < 20
    for a, b in zip(clipped(h), unclipped(h), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


@pytest.mark.parametrize("magnitude", [30.0, 100.0])
def test_clip_none_disables_clipping(magnitude):
    p = saturated_heads(1.0, None, magnitude)(torch.randn(2, 3, dtype=F64))
    expected = F.softplus(torch.tensor(magnitude, dtype=F64))
    torch.testing.assert_close(p.key_strength, expected.expand(2, 2))
    torch.testing.assert_close(p.sharpening, (1 + expected).expand(2, 2))
    assert (p.key_strength > 20.0 + 1).all()


def test_gradient_reaches_every_weight_of_the_linear_layer():
    heads = make_heads(c=5, read=2, write=2, m=3, r=1)
    gen = torch.Generator().manual_seed(1)
    p = heads(torch.randn(4, 5, generator=gen, dtype=F64))
    loss = sum((v * torch.randn(v.shape, generator=gen, dtype=F64)).sum() for v in p)
    loss.backward()
    # every output row of the linear layer feeds some parameter (none is left unused)
    assert (heads.linear.weight.grad.abs().sum(1) > 0).all()
    assert (heads.linear.bias.grad != 0).all()


@pytest.mark.parametrize("read, write, bias", [(1, 1, -3.0), (2, 3, 1.5), (0, 2, -100.0)])
def test_write_gate_bias_sets_only_the_write_heads_gates(read, write, bias):
    """``write_gate_bias`` sets each write head's gate bias and nothing else: every other
    initial weight is the draw without it from the same seed, and with zero weights (the
    output is the bias) the write heads' gates are sigmoid(bias), the read heads' unchanged."""
    m, r = 4, 1
    torch.manual_seed(3)
    plain = Heads(6, read, write, m, r)
    torch.manual_seed(3)
    gated = Heads(6, read, write, m, r, write_gate_bias=bias)
    size = addressing_size(m, r)
    gates = [h * size + m + 2 for h in range(read, read + write)]
    others = [i for i in range(plain.linear.out_features) if i not in gates]
    torch.testing.assert_close(gated.linear.weight, plain.linear.weight, rtol=0, atol=0)
    torch.testing.assert_close(gated.linear.bias[others], plain.linear.bias[others], rtol=0,
                               atol=0)
    assert gated.linear.bias[gates].tolist() == [bias] * write
    with torch.no_grad():
        plain.linear.weight.zero_()
        gated.linear.weight.zero_()
    p, q = plain(torch.randn(2, 6)), gated(torch.randn(2, 6))
    torch.testing.assert_close(q.gate[:, read:], torch.sigmoid(torch.tensor(bias)).expand(2, write))
    torch.testing.assert_close(q.gate[:, :read], p.gate[:, :read], rtol=0, atol=0)
    # The next draw from the global RNG is the same: setting the bias draws nothing.
    torch.manual_seed(3)
    Heads(6, read, write, m, r)
    after_plain = torch.rand(1)
    torch.manual_seed(3)
    Heads(6, read, write, m, r, write_gate_bias=bias)
    assert torch.equal(torch.rand(1), after_plain)


@pytest.mark.parametrize("bias", [float("nan"), float("inf"), -100.5, 1e300])
def test_write_gate_bias_outside_its_range_is_refused(bias):
    with pytest.raises(ValueError, match=r"write_gate_bias is .*; it must be a number from -100 "
                                         r"to 100, or null\."):
        Heads(6, 1, 1, 4, 1, write_gate_bias=bias)
