"""Tests of ntm/math/addressing.py: eqs. 5-9 of Graves et al. (2014).

Four kinds of check: worked examples computed by hand and written literally; slow Python-loop
references on random inputs; hypothesis properties; gradcheck and finiteness in extreme cases.
"""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from conftest import assert_distribution, assert_finite_values_and_grads
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from ntm.math.addressing import (
    address,
    content_weights,
    cosine_similarity,
    interpolate,
    sharpen,
    shift,
)

F64 = torch.float64
PROPERTY = settings(max_examples=50, deadline=None)


def t(values, dtype=F64) -> torch.Tensor:
    return torch.tensor(values, dtype=dtype)


def random_weights(gen, *shape, dtype=F64) -> torch.Tensor:
    """Strictly positive weightings summing to 1 over the last axis."""
    return torch.softmax(torch.randn(*shape, generator=gen, dtype=dtype), dim=-1)


def random_inputs(seed, b, h, n, m, r, dtype=F64):
    """Every input of ``address`` in its valid domain, drawn from a seeded generator."""
    gen = torch.Generator().manual_seed(seed)
    return dict(
        memory=torch.randn(b, n, m, generator=gen, dtype=dtype),
        previous_weights=random_weights(gen, b, h, n, dtype=dtype),
        key=torch.randn(b, h, m, generator=gen, dtype=dtype),
        key_strength=5 * torch.rand(b, h, generator=gen, dtype=dtype),
        gate=torch.rand(b, h, generator=gen, dtype=dtype),
        shift_weighting=random_weights(gen, b, h, 2 * r + 1, dtype=dtype),
        gamma=1 + 4 * torch.rand(b, h, generator=gen, dtype=dtype),
    )


# ---------------------------------------------------------------------------------------------
# Worked examples, computed by hand
# ---------------------------------------------------------------------------------------------


def test_cosine_similarity_by_hand():
    memory = t([[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]])  # N = 3, M = 2
    key = t([[[2.0, 0.0], [0.0, -3.0]]])  # H = 2
    expected = t([[[1.0, 0.0, 1 / math.sqrt(2)], [0.0, -1.0, -1 / math.sqrt(2)]]])
    torch.testing.assert_close(cosine_similarity(memory, key), expected, rtol=0, atol=1e-6)


def test_cosine_similarity_of_zero_key_or_row_is_zero():
    memory = t([[[0.0, 0.0], [3.0, 4.0]]])
    key = t([[[1.0, 2.0], [0.0, 0.0]]])
    sim = cosine_similarity(memory, key)
    expected = t([[[0.0, 11 / (5 * math.sqrt(5))], [0.0, 0.0]]])
    torch.testing.assert_close(sim, expected, rtol=0, atol=1e-6)


def test_content_weights_by_hand():
    memory = t([[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]])
    key = t([[[2.0, 0.0], [0.0, -3.0]]])
    beta = t([[2.0, 1.0]])
    # head 0: cosines 1, 0, 1/sqrt2, times beta 2
    e0 = [math.exp(2.0), math.exp(0.0), math.exp(2 / math.sqrt(2))]
    # head 1: cosines 0, -1, -1/sqrt2, times beta 1
    e1 = [math.exp(0.0), math.exp(-1.0), math.exp(-1 / math.sqrt(2))]
    expected = t([[[x / sum(e0) for x in e0], [x / sum(e1) for x in e1]]])
    torch.testing.assert_close(content_weights(memory, key, beta), expected, rtol=0, atol=1e-6)


def test_content_weights_zero_strength_is_uniform():
    memory = t([[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 2.0]]])
    key = t([[[0.3, -0.7]]])
    w = content_weights(memory, key, t([[0.0]]))
    torch.testing.assert_close(w, t([[[0.25, 0.25, 0.25, 0.25]]]))


def test_interpolate_by_hand():
    w_c = t([[[0.7, 0.2, 0.1], [0.5, 0.5, 0.0]]])
    w_prev = t([[[0.0, 0.0, 1.0], [0.0, 0.2, 0.8]]])
    gate = t([[0.25, 0.5]])
    expected = t([[[0.175, 0.05, 0.775], [0.25, 0.35, 0.4]]])
    torch.testing.assert_close(interpolate(w_c, w_prev, gate), expected)


@pytest.mark.parametrize(
    ("weights", "shift_weighting", "expected"),
    [
        # +1 (entry R + 1 = 2) moves location 0 to 1 ...
        ([1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0, 0.0]),
        # ... and wraps location N - 1 = 3 to 0.
        ([0.0, 0.0, 0.0, 1.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0, 0.0]),
        # -1 (entry 0) moves location 0 to N - 1 = 3, and location 2 to 1.
        ([1.0, 0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]),
        ([0.0, 0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0]),
        # 0 (entry R = 1) is the identity.
        ([0.5, 0.3, 0.2, 0.0], [0.0, 1.0, 0.0], [0.5, 0.3, 0.2, 0.0]),
        # Mixed: w~(i) = 0.1 w(i + 1) + 0.6 w(i) + 0.3 w(i - 1)
        #   i=0: 0.1*0.3 + 0.6*0.5 + 0.3*0.0 = 0.33
        #   i=1: 0.1*0.2 + 0.6*0.3 + 0.3*0.5 = 0.35
        #   i=2: 0.1*0.0 + 0.6*0.2 + 0.3*0.3 = 0.21
        #   i=3: 0.1*0.5 + 0.6*0.0 + 0.3*0.2 = 0.11
        ([0.5, 0.3, 0.2, 0.0], [0.1, 0.6, 0.3], [0.33, 0.35, 0.21, 0.11]),
        # R = 2, N = 5: +2 (entry 4) moves location 4 to 1.
        ([0.0, 0.0, 0.0, 0.0, 1.0], [0.0, 0.0, 0.0, 0.0, 1.0], [0.0, 1.0, 0.0, 0.0, 0.0]),
        # R = 2, N = 5, focus at 0 spread by s = (s(-2), s(-1), s(0), s(1), s(2)):
        # w~(i) = s(i) with i taken mod 5, so w~ = (s(0), s(1), s(2), s(-2), s(-1)).
        ([1.0, 0.0, 0.0, 0.0, 0.0], [0.1, 0.2, 0.3, 0.25, 0.15], [0.3, 0.25, 0.15, 0.1, 0.2]),
        # R = 2, N = 5, mixed: w = (0, 0.5, 0, 0, 0.5), s(-2) = 0.4, s(+1) = 0.6.
        # Mass 0.5 at 1 goes to 4 (x0.4) and 2 (x0.6); mass 0.5 at 4 goes to 2 (x0.4), 0 (x0.6).
        ([0.0, 0.5, 0.0, 0.0, 0.5], [0.4, 0.0, 0.0, 0.6, 0.0], [0.3, 0.0, 0.5, 0.0, 0.2]),
    ],
)
def test_shift_by_hand(weights, shift_weighting, expected):
    out = shift(t([[weights]]), t([[shift_weighting]]))
    torch.testing.assert_close(out, t([[expected]]))


def test_shift_rejects_bad_widths():
    w = t([[[0.25, 0.25, 0.25, 0.25]]])
    with pytest.raises(ValueError, match="odd"):
        shift(w, t([[[0.5, 0.5]]]))
    with pytest.raises(ValueError, match="4 memory locations"):
        shift(w, t([[[0.2] * 5]]))


def test_sharpen_by_hand():
    w = t([[[0.5, 0.3, 0.2], [0.5, 0.3, 0.2]]])
    gamma = t([[2.0, 3.0]])
    # gamma 2: 0.25, 0.09, 0.04 (sum 0.38); gamma 3: 0.125, 0.027, 0.008 (sum 0.16)
    expected = t([[[0.25 / 0.38, 0.09 / 0.38, 0.04 / 0.38], [0.78125, 0.16875, 0.05]]])
    torch.testing.assert_close(sharpen(w, gamma), expected)


def test_sharpen_keeps_exact_zeros_zero():
    out = sharpen(t([[[0.0, 0.6, 0.4]]]), t([[2.0]]))
    # 0, 0.36, 0.16 over 0.52
    torch.testing.assert_close(out, t([[[0.0, 0.36 / 0.52, 0.16 / 0.52]]]), rtol=0, atol=1e-12)


def test_address_by_hand():
    # N = 4, M = 2. Key equals row 0; beta = ln 3 makes the content weighting easy:
    # cosines (1, 0, 0, -1) -> exp(beta * cos) = (3, 1, 1, 1/3), sum 16/3.
    memory = t([[[1.0, 0.0], [0.0, 1.0], [0.0, -2.0], [-1.0, 0.0]]])
    key = t([[[4.0, 0.0]]])
    beta = t([[math.log(3.0)]])
    w_c = [9 / 16, 3 / 16, 3 / 16, 1 / 16]
    torch.testing.assert_close(content_weights(memory, key, beta), t([[w_c]]), atol=1e-6, rtol=0)
    # gate 0.5 with previous focus on location 3.
    w_prev = [0.0, 0.0, 0.0, 1.0]
    w_g = [0.5 * c + 0.5 * p for c, p in zip(w_c, w_prev, strict=True)]
    assert w_g == [9 / 32, 3 / 32, 3 / 32, 17 / 32]
    # pure shift +1: w~ = (17/32, 9/32, 3/32, 3/32); gamma 2: squares over their sum.
    squares = [17**2, 9**2, 3**2, 3**2]  # (over 32^2, which cancels)
    expected = [s / sum(squares) for s in squares]
    out = address(
        memory,
        t([[w_prev]]),
        key,
        beta,
        gate=t([[0.5]]),
        shift_weighting=t([[[0.0, 0.0, 1.0]]]),
        gamma=t([[2.0]]),
    )
    torch.testing.assert_close(out, t([[expected]]), atol=1e-6, rtol=0)


# ---------------------------------------------------------------------------------------------
# Slow, obviously correct references (plain loops over b, h, i, j)
# ---------------------------------------------------------------------------------------------


def ref_cosine_similarity(memory, key):
    memory, key = memory.tolist(), key.tolist()
    out = []
    for b in range(len(key)):
        out.append([])
        for h in range(len(key[b])):
            k = key[b][h]
            row_sims = []
            for i in range(len(memory[b])):
                row = memory[b][i]
                dot = sum(k[j] * row[j] for j in range(len(k)))
                norm_k = math.sqrt(sum(x * x for x in k))
                norm_row = math.sqrt(sum(x * x for x in row))
                row_sims.append(dot / (norm_k * norm_row))
            out[b].append(row_sims)
    return t(out)


def ref_softmax(logits):
    exps = [math.exp(x - max(logits)) for x in logits]
    return [e / sum(exps) for e in exps]


def ref_content_weights(memory, key, key_strength):
    sims = ref_cosine_similarity(memory, key).tolist()
    beta = key_strength.tolist()
    out = []
    for b in range(len(sims)):
        out.append([])
        for h in range(len(sims[b])):
            out[b].append(ref_softmax([beta[b][h] * s for s in sims[b][h]]))
    return t(out)


def ref_interpolate(w_c, w_prev, gate):
    w_c, w_prev, gate = w_c.tolist(), w_prev.tolist(), gate.tolist()
    out = []
    for b in range(len(w_c)):
        out.append([])
        for h in range(len(w_c[b])):
            g = gate[b][h]
            n = len(w_c[b][h])
            out[b].append([g * w_c[b][h][i] + (1 - g) * w_prev[b][h][i] for i in range(n)])
    return t(out)


def ref_shift(weights, shift_weighting):
    weights, s = weights.tolist(), shift_weighting.tolist()
    out = []
    for b in range(len(weights)):
        out.append([])
        for h in range(len(weights[b])):
            n = len(weights[b][h])
            r = (len(s[b][h]) - 1) // 2
            shifted = [0.0] * n
            # Mass at location j moved by shift k - R lands on location (j + k - R) mod N.
            for j in range(n):
                for k in range(2 * r + 1):
                    i = (j + k - r) % n
                    shifted[i] += weights[b][h][j] * s[b][h][k]
            out[b].append(shifted)
    return t(out)


def ref_sharpen(weights, gamma):
    weights, gamma = weights.tolist(), gamma.tolist()
    out = []
    for b in range(len(weights)):
        out.append([])
        for h in range(len(weights[b])):
            powered = [w ** gamma[b][h] for w in weights[b][h]]
            out[b].append([p / sum(powered) for p in powered])
    return t(out)


def ref_address(memory, previous_weights, key, key_strength, gate, shift_weighting, gamma):
    w_c = ref_content_weights(memory, key, key_strength)
    w_g = ref_interpolate(w_c, previous_weights, gate)
    return ref_sharpen(ref_shift(w_g, shift_weighting), gamma)


SHAPES = [  # (B, H, N, M, R)
    (1, 1, 4, 2, 1),
    (2, 1, 3, 2, 1),  # 2R + 1 == N
    (3, 2, 7, 3, 1),
    (2, 3, 5, 4, 2),  # 2R + 1 == N
    (2, 4, 9, 3, 2),
]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("seed", [0, 1])
def test_against_loop_reference(shape, seed):
    x = random_inputs(seed, *shape)
    close = dict(rtol=1e-6, atol=1e-7)
    w_c = content_weights(x["memory"], x["key"], x["key_strength"])
    torch.testing.assert_close(
        cosine_similarity(x["memory"], x["key"]),
        ref_cosine_similarity(x["memory"], x["key"]),
        **close,
    )
    torch.testing.assert_close(
        w_c, ref_content_weights(x["memory"], x["key"], x["key_strength"]), **close
    )
    # Each later stage is fed the same input as its reference, so errors do not compound.
    w_g = interpolate(w_c, x["previous_weights"], x["gate"])
    torch.testing.assert_close(w_g, ref_interpolate(w_c, x["previous_weights"], x["gate"]))
    w_s = shift(w_g, x["shift_weighting"])
    torch.testing.assert_close(w_s, ref_shift(w_g, x["shift_weighting"]))
    torch.testing.assert_close(sharpen(w_s, x["gamma"]), ref_sharpen(w_s, x["gamma"]))
    torch.testing.assert_close(address(**x), ref_address(**x), **close)


@pytest.mark.parametrize("shape", SHAPES)
def test_shift_and_sharpen_reference_on_non_normalised_inputs(shape):
    # shift is linear and sharpen normalises: neither may rely on its input summing to 1.
    b, h, n, _, r = shape
    gen = torch.Generator().manual_seed(7)
    w = 3 * torch.rand(b, h, n, generator=gen, dtype=F64) + 0.01
    s = torch.rand(b, h, 2 * r + 1, generator=gen, dtype=F64)
    gamma = 1 + 10 * torch.rand(b, h, generator=gen, dtype=F64)
    torch.testing.assert_close(shift(w, s), ref_shift(w, s))
    torch.testing.assert_close(sharpen(w, gamma), ref_sharpen(w, gamma))


# ---------------------------------------------------------------------------------------------
# Properties (hypothesis)
# ---------------------------------------------------------------------------------------------

seeds = st.integers(0, 2**31 - 1)


@st.composite
def shapes(draw):
    """(B, H, N, M, R) with 2R + 1 <= N."""
    r = draw(st.integers(1, 2))
    n = draw(st.integers(2 * r + 1, 12))
    return draw(st.integers(1, 3)), draw(st.integers(1, 3)), n, draw(st.integers(1, 5)), r


@PROPERTY
@given(shape=shapes(), seed=seeds, beta_scale=st.sampled_from([0.0, 1.0, 20.0, 1e3]))
def test_every_stage_returns_a_distribution(shape, seed, beta_scale):
    x = random_inputs(seed, *shape)
    x["key_strength"] = x["key_strength"] * beta_scale
    x["gamma"] = 1 + (x["gamma"] - 1) * beta_scale  # gamma up to 4e3 with the largest scale
    w_c = content_weights(x["memory"], x["key"], x["key_strength"])
    w_g = interpolate(w_c, x["previous_weights"], x["gate"])
    w_s = shift(w_g, x["shift_weighting"])
    for w in (w_c, w_g, w_s, sharpen(w_s, x["gamma"]), address(**x)):
        assert_distribution(w)


@PROPERTY
@given(shape=shapes(), seed=seeds, data=st.data())
def test_one_hot_shift_moves_focus_with_wrap_around(shape, seed, data):
    b, h, n, _, r = shape
    location = data.draw(st.integers(0, n - 1))
    offset = data.draw(st.integers(-r, r))
    focus = torch.zeros(b, h, n, dtype=F64)
    focus[..., location] = 1
    s = torch.zeros(b, h, 2 * r + 1, dtype=F64)
    s[..., r + offset] = 1  # entry k is shift k - R
    expected = torch.zeros(b, h, n, dtype=F64)
    expected[..., (location + offset) % n] = 1
    torch.testing.assert_close(shift(focus, s), expected, rtol=0, atol=0)
    # The same holds for a spread weighting: a pure shift is a roll of the locations.
    w = random_weights(torch.Generator().manual_seed(seed), b, h, n)
    torch.testing.assert_close(shift(w, s), torch.roll(w, offset, dims=-1), rtol=0, atol=0)


@PROPERTY
@given(shape=shapes(), seed=seeds)
def test_one_step_shifts_plus_and_minus_one(shape, seed):
    b, h, n, _, r = shape
    gen = torch.Generator().manual_seed(seed)
    location = int(torch.randint(n, (1,), generator=gen))
    focus = torch.zeros(b, h, n, dtype=F64)
    focus[..., location] = 1
    plus, minus = torch.zeros(b, h, 2 * r + 1, dtype=F64), torch.zeros(b, h, 2 * r + 1, dtype=F64)
    plus[..., r + 1] = 1
    minus[..., r - 1] = 1
    assert shift(focus, plus)[..., (location + 1) % n].eq(1).all()
    assert shift(focus, minus)[..., (location - 1) % n].eq(1).all()
    assert shift(shift(focus, plus), minus).equal(focus)


@PROPERTY
@given(shape=shapes(), seed=seeds)
def test_identity_shift_leaves_weights_unchanged(shape, seed):
    b, h, n, _, r = shape
    w = random_weights(torch.Generator().manual_seed(seed), b, h, n)
    identity = torch.zeros(b, h, 2 * r + 1, dtype=F64)
    identity[..., r] = 1
    torch.testing.assert_close(shift(w, identity), w, rtol=0, atol=0)


@PROPERTY
@given(shape=shapes(), seed=seeds)
def test_gamma_one_leaves_weights_unchanged(shape, seed):
    b, h, n, _, _ = shape
    w = random_weights(torch.Generator().manual_seed(seed), b, h, n)
    torch.testing.assert_close(sharpen(w, torch.ones(b, h, dtype=F64)), w, rtol=1e-12, atol=0)


@PROPERTY
@given(shape=shapes(), seed=seeds, gamma=st.floats(1.0, 1e3))
def test_sharpening_keeps_a_unique_argmax(shape, seed, gamma):
    b, h, n, _, _ = shape
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(b, h, n, generator=gen, dtype=F64)
    top = logits.argmax(-1, keepdim=True)
    logits.scatter_add_(-1, top, torch.full_like(top, 0.5, dtype=F64))  # a unique max
    w = torch.softmax(logits, dim=-1)
    out = sharpen(w, torch.full((b, h), gamma, dtype=F64))
    assert out.argmax(-1).equal(top.squeeze(-1))
    # And it never flattens the maximum.
    assert (out.gather(-1, top) >= w.gather(-1, top) - 1e-12).all()


@PROPERTY
@given(shape=shapes(), seed=seeds)
def test_gate_one_gives_content_weights_and_gate_zero_previous_weights(shape, seed):
    b, h, n, m, r = shape
    x = random_inputs(seed, *shape)
    w_c = content_weights(x["memory"], x["key"], x["key_strength"])
    ones, zeros = torch.ones(b, h, dtype=F64), torch.zeros(b, h, dtype=F64)
    torch.testing.assert_close(interpolate(w_c, x["previous_weights"], ones), w_c)
    torch.testing.assert_close(
        interpolate(w_c, x["previous_weights"], zeros), x["previous_weights"]
    )
    # Through the whole mechanism, with the identity shift and gamma = 1.
    x["shift_weighting"] = torch.zeros(b, h, 2 * r + 1, dtype=F64)
    x["shift_weighting"][..., r] = 1
    x["gamma"] = ones
    torch.testing.assert_close(address(**{**x, "gate": ones}), w_c)
    torch.testing.assert_close(address(**{**x, "gate": zeros}), x["previous_weights"])


@PROPERTY
@given(
    b=st.integers(1, 3),
    h=st.integers(1, 3),
    n=st.integers(2, 10),
    m=st.integers(3, 6),
    seed=seeds,
    data=st.data(),
)
def test_strong_key_equal_to_a_row_focuses_on_that_row(b, h, n, m, seed, data):
    gen = torch.Generator().manual_seed(seed)
    scale = data.draw(st.sampled_from([0.01, 1.0, 100.0]))
    memory = scale * torch.randn(b, n, m, generator=gen, dtype=F64)
    targets = torch.randint(n, (b, h), generator=gen)
    key = memory[torch.arange(b).unsqueeze(1), targets]  # (B, H, M): key = row target[b, h]
    # Rows well separated from each target: cosine below 0.9 with every other row.
    sims = torch.nn.functional.cosine_similarity(key.unsqueeze(2), memory.unsqueeze(1), dim=-1)
    sims.scatter_(-1, targets.unsqueeze(-1), -1.0)
    assume(bool((sims < 0.9).all()))
    w = content_weights(memory, key, torch.full((b, h), 100.0, dtype=F64))
    assert (w.gather(-1, targets.unsqueeze(-1)) > 0.99).all()
    assert w.argmax(-1).equal(targets)


# ---------------------------------------------------------------------------------------------
# Gradients
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(2, 1, 4, 3, 1), (1, 3, 5, 2, 2)])
def test_gradcheck(shape):
    x = {k: v.requires_grad_() for k, v in random_inputs(3, *shape).items()}
    gradcheck = torch.autograd.gradcheck
    assert gradcheck(cosine_similarity, (x["memory"], x["key"]))
    assert gradcheck(content_weights, (x["memory"], x["key"], x["key_strength"]))
    w_c = content_weights(x["memory"], x["key"], x["key_strength"]).detach().requires_grad_()
    assert gradcheck(interpolate, (w_c, x["previous_weights"], x["gate"]))
    assert gradcheck(shift, (x["previous_weights"], x["shift_weighting"]))
    assert gradcheck(sharpen, (x["previous_weights"], x["gamma"]))
    assert gradcheck(address, tuple(x.values()))


FLOAT32 = torch.float32


def _extreme_cases():
    """Memory, key, key strength, gamma in their extreme values (float32, B = 2, H = 2)."""
    n, m = 5, 3
    gen = torch.Generator().manual_seed(0)
    rows = torch.randn(2, n, m, generator=gen)
    memories = {
        "zero_memory": torch.zeros(2, n, m),
        "constant_memory": torch.full((2, n, m), 1e-6),
        "random_memory": rows,
    }
    keys = {
        "zero_key": lambda mem: torch.zeros(2, 2, m),
        "key_is_row": lambda mem: mem[:, [1, 3]].clone(),
        "random_key": lambda mem: torch.randn(2, 2, m, generator=gen),
    }
    for (mem_name, mem), (key_name, key_fn), beta, gamma in itertools.product(
        memories.items(), keys.items(), [0.0, 1.0, 1e3], [1.0, 1e3]
    ):
        case_id = f"{mem_name}-{key_name}-{beta}-{gamma}"
        yield pytest.param(mem, key_fn(mem), beta, gamma, id=case_id)


def _weightings(n, r):
    one_hot = torch.zeros(2, 2, n)
    one_hot[..., 0] = 1
    one_hot_shift = torch.zeros(2, 2, 2 * r + 1)
    one_hot_shift[..., r + 1] = 1
    return {
        "one_hot_prev": one_hot,
        "uniform_prev": torch.full((2, 2, n), 1 / n),
    }, {
        "one_hot_shift": one_hot_shift,
        "soft_shift": torch.softmax(torch.arange(2 * r + 1.0).expand(2, 2, -1), -1),
    }


@pytest.mark.parametrize(("memory", "key", "beta", "gamma"), list(_extreme_cases()))
def test_address_finite_in_extreme_cases(memory, key, beta, gamma):
    n, r = memory.shape[1], 1
    previous, shifts = _weightings(n, r)
    for (p_name, prev), (s_name, s), gate in itertools.product(
        previous.items(), shifts.items(), [0.0, 0.5, 1.0]
    ):
        inputs = dict(
            memory=memory.clone(),
            previous_weights=prev.clone(),
            key=key.clone(),
            key_strength=torch.full((2, 2), beta),
            gate=torch.full((2, 2), gate),
            shift_weighting=s.clone(),
            gamma=torch.full((2, 2), gamma),
        )
        for x in inputs.values():
            x.requires_grad_()
        out = address(**inputs)
        assert_finite_values_and_grads(out, inputs, f"{p_name}, {s_name}, gate {gate}")
        assert_distribution(out.detach())


@pytest.mark.parametrize(("memory", "key", "beta", "gamma"), list(_extreme_cases()))
def test_individual_functions_finite_in_extreme_cases(memory, key, beta, gamma):
    inputs = dict(memory=memory.clone().requires_grad_(), key=key.clone().requires_grad_())
    assert_finite_values_and_grads(cosine_similarity(**inputs), inputs, "cosine_similarity")

    inputs = dict(
        memory=memory.clone().requires_grad_(),
        key=key.clone().requires_grad_(),
        key_strength=torch.full((2, 2), beta, requires_grad=True),
    )
    assert_finite_values_and_grads(content_weights(**inputs), inputs, "content_weights")

    n = memory.shape[1]
    previous, shifts = _weightings(n, 1)
    for prev in previous.values():
        for gate in (0.0, 1.0):
            inputs = dict(
                content_weights=torch.full((2, 2, n), 1 / n, requires_grad=True),
                previous_weights=prev.clone().requires_grad_(),
                gate=torch.full((2, 2), gate, requires_grad=True),
            )
            assert_finite_values_and_grads(interpolate(**inputs), inputs, "interpolate")
        for s in shifts.values():
            inputs = dict(
                weights=prev.clone().requires_grad_(), shift_weighting=s.clone().requires_grad_()
            )
            assert_finite_values_and_grads(shift(**inputs), inputs, "shift")
            # Exact zeros in the weighting (one-hot after a one-hot shift, or a soft spread).
            shifted = shift(prev, s)
            inputs = dict(
                weights=shifted.clone().requires_grad_(),
                gamma=torch.full((2, 2), gamma, requires_grad=True),
            )
            out = sharpen(**inputs)
            assert_finite_values_and_grads(out, inputs, "sharpen")
            assert_distribution(out.detach())


@pytest.mark.parametrize("gamma", [1.0, 1.0 + 1e-6, 1.5, 1e3])
def test_sharpen_finite_with_exact_zeros_and_tiny_weights(gamma):
    w = torch.tensor([[[0.0, 1e-30, 1e-12, 0.3, 0.7 - 1e-12], [1.0, 0.0, 0.0, 0.0, 0.0]]])
    w.requires_grad_()
    g = torch.full((1, 2), gamma, requires_grad=True)
    out = sharpen(w, g)
    assert_finite_values_and_grads(out, {"weights": w, "gamma": g}, f"gamma {gamma}")
    torch.testing.assert_close(out[0, 1], torch.tensor([1.0, 0.0, 0.0, 0.0, 0.0]))
