"""Tests of ntm/math/memory.py: reading (eq. 2), writing (eqs. 3-4) and the initial memory."""

from __future__ import annotations

import math

import pytest
import torch
from conftest import assert_finite_values_and_grads
from hypothesis import given, settings
from hypothesis import strategies as st

from ntm.math.memory import CONSTANT_INIT_VALUE, initial_memory, read, write

F64 = torch.float64
PROPERTY = settings(max_examples=50, deadline=None)


def t(values, dtype=F64) -> torch.Tensor:
    return torch.tensor(values, dtype=dtype)


def random_write_inputs(seed, b, h, n, m, dtype=F64):
    gen = torch.Generator().manual_seed(seed)
    return dict(
        memory=torch.randn(b, n, m, generator=gen, dtype=dtype),
        weights=torch.softmax(torch.randn(b, h, n, generator=gen, dtype=dtype), dim=-1),
        erase=torch.rand(b, h, m, generator=gen, dtype=dtype),
        add=torch.randn(b, h, m, generator=gen, dtype=dtype),
    )


# ---------------------------------------------------------------------------------------------
# Worked examples, computed by hand
# ---------------------------------------------------------------------------------------------

MEMORY = [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]  # N = 3, M = 2


def test_read_by_hand():
    weights = t([[[0.5, 0.25, 0.25], [0.0, 0.0, 1.0]]])  # H = 2
    # head 0: 0.5*(1, 2) + 0.25*(3, 4) + 0.25*(5, 6) = (2.5, 3.5); head 1: row 2.
    expected = t([[[2.5, 3.5], [5.0, 6.0]]])
    torch.testing.assert_close(read(t([MEMORY]), weights), expected)


def test_write_one_head_by_hand():
    weights = t([[[1.0, 0.5, 0.0]]])
    erase = t([[[1.0, 0.5]]])
    add = t([[[10.0, 20.0]]])
    # erase: row 0 * (1 - 1*(1, 0.5)) = (0, 1); row 1 * (1 - 0.5*(1, 0.5)) = (1.5, 3); row 2 kept
    # add:   row 0 + 1*(10, 20) = (10, 21); row 1 + 0.5*(10, 20) = (6.5, 13); row 2 + 0
    expected = t([[[10.0, 21.0], [6.5, 13.0], [5.0, 6.0]]])
    torch.testing.assert_close(write(t([MEMORY]), weights, erase, add), expected)


def test_write_two_heads_erases_all_then_adds_all_by_hand():
    weights = t([[[1.0, 0.5, 0.0], [0.0, 0.5, 0.5]]])
    erase = t([[[1.0, 0.5], [0.5, 1.0]]])
    add = t([[[10.0, 20.0], [-2.0, 4.0]]])
    # retained = (1 - w1 e1) * (1 - w2 e2):
    #   row 0: (0, 0.5) * (1, 1)                 -> M~ = (0, 1)
    #   row 1: (0.5, 0.75) * (0.75, 0.5) = 0.375 -> M~ = (1.125, 1.5)
    #   row 2: (1, 1) * (0.75, 0.5)              -> M~ = (3.75, 3)
    # added = w1 a1 + w2 a2:
    #   row 0: (10, 20); row 1: (5, 10) + (-1, 2) = (4, 12); row 2: (-1, 2)
    expected = t([[[10.0, 21.0], [5.125, 13.5], [2.75, 5.0]]])
    out = write(t([MEMORY]), weights, erase, add)
    torch.testing.assert_close(out, expected)
    # Applying head 0 completely and then head 1 gives a different memory: row 1 would be
    # (6.5, 13) * (0.75, 0.5) + (-1, 2) = (3.875, 8.5).
    sequential = write(
        write(t([MEMORY]), weights[:, :1], erase[:, :1], add[:, :1]),
        weights[:, 1:],
        erase[:, 1:],
        add[:, 1:],
    )
    torch.testing.assert_close(sequential[0, 1], t([3.875, 8.5]))


def test_write_is_batched_independently():
    memory = t([MEMORY, [[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]]])
    weights = t([[[0.0, 0.0, 1.0]], [[1.0, 0.0, 0.0]]])
    erase = t([[[1.0, 1.0]], [[0.0, 0.0]]])
    add = t([[[7.0, 8.0]], [[1.0, -1.0]]])
    expected = t(
        [
            [[1.0, 2.0], [3.0, 4.0], [7.0, 8.0]],  # row 2 replaced
            [[1.0, -1.0], [1.0, 1.0], [2.0, 2.0]],  # nothing erased, (1, -1) added to row 0
        ]
    )
    torch.testing.assert_close(write(memory, weights, erase, add), expected)


# ---------------------------------------------------------------------------------------------
# Slow, obviously correct references
# ---------------------------------------------------------------------------------------------


def ref_read(memory, weights):
    memory, weights = memory.tolist(), weights.tolist()
    out = []
    for b in range(len(weights)):
        out.append([])
        for h in range(len(weights[b])):
            width = len(memory[b][0])
            out[b].append(
                [
                    sum(weights[b][h][i] * memory[b][i][j] for i in range(len(memory[b])))
                    for j in range(width)
                ]
            )
    return t(out)


def ref_write(memory, weights, erase, add):
    memory, weights = memory.tolist(), weights.tolist()
    erase, add = erase.tolist(), add.tolist()
    out = []
    for b in range(len(memory)):
        out.append([])
        for i in range(len(memory[b])):
            row = []
            for j in range(len(memory[b][i])):
                value = memory[b][i][j]
                for h in range(len(weights[b])):  # eq. 3, every head's erase ...
                    value *= 1 - weights[b][h][i] * erase[b][h][j]
                for h in range(len(weights[b])):  # eq. 4, ... then every head's add
                    value += weights[b][h][i] * add[b][h][j]
                row.append(value)
            out[b].append(row)
    return t(out)


SHAPES = [(1, 1, 4, 2), (2, 1, 6, 3), (3, 2, 5, 4), (2, 4, 8, 3), (1, 3, 3, 1)]  # (B, H, N, M)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("seed", [0, 1])
def test_read_and_write_against_loop_reference(shape, seed):
    x = random_write_inputs(seed, *shape)
    torch.testing.assert_close(read(x["memory"], x["weights"]), ref_read(x["memory"], x["weights"]))
    torch.testing.assert_close(write(**x), ref_write(**x))


# ---------------------------------------------------------------------------------------------
# Properties (hypothesis)
# ---------------------------------------------------------------------------------------------

seeds = st.integers(0, 2**31 - 1)


@st.composite
def shapes(draw):
    """(B, H, N, M)."""
    return tuple(draw(st.integers(lo, hi)) for lo, hi in [(1, 3), (1, 4), (1, 10), (1, 6)])


@PROPERTY
@given(shape=shapes(), seed=seeds, data=st.data())
def test_reading_a_one_hot_weighting_returns_that_row(shape, seed, data):
    b, h, n, m = shape
    memory = random_write_inputs(seed, *shape)["memory"]
    rows = data.draw(st.lists(st.integers(0, n - 1), min_size=b * h, max_size=b * h))
    rows = torch.tensor(rows).reshape(b, h)
    weights = torch.nn.functional.one_hot(rows, n).to(F64)
    expected = memory[torch.arange(b).unsqueeze(1), rows]  # (B, H, M)
    torch.testing.assert_close(read(memory, weights), expected, rtol=0, atol=0)


@PROPERTY
@given(shape=shapes(), seed=seeds)
def test_read_is_a_convex_combination_of_rows(shape, seed):
    x = random_write_inputs(seed, *shape)
    r = read(x["memory"], x["weights"])  # (B, H, M)
    low = x["memory"].min(dim=1, keepdim=True).values  # (B, 1, M)
    high = x["memory"].max(dim=1, keepdim=True).values
    assert (r >= low - 1e-12).all() and (r <= high + 1e-12).all()


@PROPERTY
@given(shape=shapes(), seed=seeds, data=st.data())
def test_full_erase_with_one_hot_weighting_replaces_the_row(shape, seed, data):
    b, h, n, m = shape
    h = min(h, n)
    x = random_write_inputs(seed, b, h, n, m)
    # Each head of a sequence writes to its own location.
    rows = torch.stack(
        [torch.tensor(data.draw(st.permutations(range(n)))[:h]) for _ in range(b)]
    )  # (B, H)
    weights = torch.nn.functional.one_hot(rows, n).to(F64)
    out = write(x["memory"], weights, torch.ones(b, h, m, dtype=F64), x["add"])
    expected = x["memory"].clone()
    expected[torch.arange(b).unsqueeze(1), rows] = x["add"]
    # Exact in eqs. 3-4; an implementation may round (e.g. M + w (a - e M)), so allow ulps.
    torch.testing.assert_close(out, expected, rtol=1e-12, atol=1e-12)


@PROPERTY
@given(shape=shapes(), seed=seeds, data=st.data())
def test_order_of_write_heads_does_not_matter(shape, seed, data):
    b, h, n, m = shape
    x = random_write_inputs(seed, *shape)
    order = torch.tensor(data.draw(st.permutations(range(h))))
    permuted = {k: (v if k == "memory" else v[:, order]) for k, v in x.items()}
    torch.testing.assert_close(write(**permuted), write(**x), rtol=1e-12, atol=1e-12)


@PROPERTY
@given(shape=shapes(), seed=seeds)
def test_zero_weighting_or_zero_erase_and_add_leaves_memory_unchanged(shape, seed):
    b, h, n, m = shape
    x = random_write_inputs(seed, *shape)
    zero_weights = {**x, "weights": torch.zeros(b, h, n, dtype=F64)}
    torch.testing.assert_close(write(**zero_weights), x["memory"], rtol=0, atol=0)
    zeros = torch.zeros(b, h, m, dtype=F64)
    zero_vectors = {**x, "erase": zeros, "add": zeros}
    torch.testing.assert_close(write(**zero_vectors), x["memory"], rtol=0, atol=0)


# ---------------------------------------------------------------------------------------------
# Gradients
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(2, 1, 4, 3), (2, 3, 5, 2)])
def test_gradcheck_read_and_write(shape):
    x = {k: v.requires_grad_() for k, v in random_write_inputs(5, *shape).items()}
    assert torch.autograd.gradcheck(read, (x["memory"], x["weights"]))
    assert torch.autograd.gradcheck(write, tuple(x.values()))


def test_gradcheck_learned_initial_memory():
    bias = torch.randn(4, 3, dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda b: initial_memory("learned", b, 3), (bias,))


@pytest.mark.parametrize("heads", [1, 2, 3])
@pytest.mark.parametrize("memory_kind", ["zero", "constant", "random"])
def test_read_and_write_finite_in_extreme_cases(heads, memory_kind):
    b, n, m = 2, 5, 3
    memory = {
        "zero": torch.zeros(b, n, m),
        "constant": torch.full((b, n, m), CONSTANT_INIT_VALUE),
        "random": torch.randn(b, n, m, generator=torch.Generator().manual_seed(0)),
    }[memory_kind]
    # Every head fully erases location 0: the erase product has `heads` exact zeros.
    one_hot = torch.zeros(b, heads, n)
    one_hot[..., 0] = 1
    for weights in (one_hot, torch.full((b, heads, n), 1 / n)):
        for erase_value in (0.0, 1.0):
            inputs = dict(
                memory=memory.clone().requires_grad_(),
                weights=weights.clone().requires_grad_(),
                erase=torch.full((b, heads, m), erase_value, requires_grad=True),
                add=torch.randn(b, heads, m).requires_grad_(),
            )
            case = f"write, erase {erase_value}"
            assert_finite_values_and_grads(write(**inputs), inputs, case)
        inputs = dict(
            memory=memory.clone().requires_grad_(), weights=weights.clone().requires_grad_()
        )
        assert_finite_values_and_grads(read(**inputs), inputs, "read")


def test_gradient_of_write_through_fully_erased_cells_by_hand():
    # Two heads erase row 0 completely, so M_t(0) = a_1 + a_2 whatever M_{t-1}(0) was: the
    # gradient with respect to the old row is 0 and with respect to each erase is -M(0) * (the
    # other head's retained factor) = 0, since the other factor is 0 too.
    memory = t([[[2.0, 3.0], [1.0, 1.0]]], dtype=torch.float32).requires_grad_()
    weights = t([[[1.0, 0.0], [1.0, 0.0]]], dtype=torch.float32).requires_grad_()
    erase = torch.ones(1, 2, 2, requires_grad=True)
    add = t([[[1.0, 2.0], [3.0, 4.0]]], dtype=torch.float32).requires_grad_()
    out = write(memory, weights, erase, add)
    torch.testing.assert_close(out, t([[[4.0, 6.0], [1.0, 1.0]]], dtype=torch.float32))
    out.sum().backward()
    torch.testing.assert_close(memory.grad, t([[[0.0, 0.0], [1.0, 1.0]]], dtype=torch.float32))
    torch.testing.assert_close(erase.grad, torch.zeros(1, 2, 2))
    torch.testing.assert_close(add.grad, t([[[1.0, 1.0], [1.0, 1.0]]], dtype=torch.float32))


# ---------------------------------------------------------------------------------------------
# initial_memory
# ---------------------------------------------------------------------------------------------


def test_constant_initial_memory_is_one_in_a_million_everywhere():
    assert CONSTANT_INIT_VALUE == 1e-6
    bias = torch.full((128, 20), CONSTANT_INIT_VALUE)
    out = initial_memory("constant", bias, batch_size=4)
    assert out.shape == (4, 128, 20)
    assert (out == torch.tensor(1e-6)).all()


def test_learned_initial_memory_is_the_bias_and_receives_gradients():
    bias = torch.nn.Parameter(torch.randn(6, 3))
    out = initial_memory("learned", bias, batch_size=4)
    assert out.shape == (4, 6, 3)
    for b in range(4):
        assert out[b].equal(bias)
    (out * torch.arange(4.0).view(4, 1, 1)).sum().backward()
    # Each sequence contributes its coefficient b to every cell: 0 + 1 + 2 + 3.
    torch.testing.assert_close(bias.grad, torch.full((6, 3), 6.0))


def test_random_initial_memory_follows_the_generator():
    bias = torch.zeros(128, 20)
    a = initial_memory("random", bias, 4, torch.Generator().manual_seed(11))
    again = initial_memory("random", bias, 4, torch.Generator().manual_seed(11))
    other = initial_memory("random", bias, 4, torch.Generator().manual_seed(12))
    assert a.shape == (4, 128, 20)
    assert a.equal(again)
    assert not a.equal(other)
    # A generator in use moves on: the next call gives fresh noise.
    gen = torch.Generator().manual_seed(11)
    assert not initial_memory("random", bias, 4, gen).equal(initial_memory("random", bias, 4, gen))


def test_random_initial_memory_statistics():
    n, m = 128, 20
    out = initial_memory("random", torch.zeros(n, m), 8, torch.Generator().manual_seed(0))
    # 20480 samples: the standard error of the std is about 0.5 %.
    assert abs(out.std().item() * math.sqrt(m) - 1) < 0.03
    assert abs(out.mean().item()) < 0.01
    assert abs(out.norm(dim=-1).mean().item() - 1) < 0.05  # rows of norm about 1
    for i in range(8):
        for j in range(i):
            assert not torch.allclose(out[i], out[j])


def test_random_initial_memory_takes_dtype_from_bias_and_default_generator():
    bias = torch.zeros(5, 4, dtype=F64)
    torch.manual_seed(3)
    a = initial_memory("random", bias, 2)
    torch.manual_seed(3)
    b = initial_memory("random", bias, 2)
    assert a.dtype == F64 and a.shape == (2, 5, 4)
    assert a.equal(b)


@pytest.mark.parametrize("name", ["zeros", "Constant", ""])
def test_unknown_initial_memory_names_the_setting(name):
    with pytest.raises(ValueError, match=r"memory\.init") as info:
        initial_memory(name, torch.zeros(3, 2), 1)
    for allowed in ("constant", "learned", "random"):
        assert allowed in str(info.value)
