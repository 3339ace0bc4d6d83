"""Tests of ntm/models/controller.py: the LSTM and feedforward controllers and their registry.

Checks: output and state shapes; the learned initial state (a bias expanded over the batch that
receives gradient); the LSTM against torch's own ``nn.LSTMCell`` / ``nn.LSTM`` with the same
weights; the feedforward controller has no state and is a pure function of its input;
``make_controller`` rejects unknown kinds with a ValueError naming the setting.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ntm.models.controller import (
    CONTROLLERS,
    FeedforwardController,
    LSTMController,
    make_controller,
)

F64 = torch.float64


def randomise_initial(controller: LSTMController, seed: int = 0) -> None:
    """The initial state starts at zero; make it non-trivial so comparisons mean something."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        controller.initial.copy_(torch.randn(controller.initial.shape, generator=gen))


# ---------------------------------------------------------------------------------------------
# LSTM
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("layers", [1, 2, 3])
def test_lstm_shapes(layers):
    b, n_in, size = 4, 7, 5
    ctrl = LSTMController(n_in, size, layers)
    state = ctrl.initial_state(b)
    assert len(state) == 2 * layers
    assert all(s.shape == (b, size) for s in state)
    out, new_state = ctrl(torch.randn(b, n_in), state)
    assert out.shape == (b, size)
    assert len(new_state) == 2 * layers
    assert all(s.shape == (b, size) for s in new_state)
    # the output is the top layer's hidden state
    torch.testing.assert_close(out, new_state[-2], rtol=0, atol=0)
    assert ctrl.size == size


@pytest.mark.parametrize("layers", [1, 2])
def test_lstm_initial_state_is_the_learned_bias_over_the_batch(layers):
    ctrl = LSTMController(3, 4, layers)
    randomise_initial(ctrl)
    state = ctrl.initial_state(5)
    for i, s in enumerate(state):
        torch.testing.assert_close(s, ctrl.initial[i].expand(5, -1), rtol=0, atol=0)
    # a parameter, so it is trained; reset per sequence, so equal for every batch row
    assert ctrl.initial.requires_grad
    assert any(p is ctrl.initial for p in ctrl.parameters())


@pytest.mark.parametrize("layers", [1, 2])
def test_lstm_initial_state_receives_gradient(layers):
    ctrl = LSTMController(3, 4, layers)
    randomise_initial(ctrl)
    state = ctrl.initial_state(2)
    x = torch.randn(2, 3)
    for _ in range(2):
        out, state = ctrl(x, state)
    out.pow(2).sum().backward()
    grad = ctrl.initial.grad
    assert grad is not None and grad.shape == (2 * layers, 4)
    # every h and c of every layer, and every unit, affects the output
    assert (grad.abs() > 0).all()


def test_lstm_one_layer_equals_lstm_cell():
    torch.manual_seed(0)
    n_in, size, b, steps = 6, 5, 3, 4
    ctrl = LSTMController(n_in, size, 1).double()
    randomise_initial(ctrl)
    cell = nn.LSTMCell(n_in, size).double()
    cell.load_state_dict(ctrl.cells[0].state_dict())
    xs = torch.randn(steps, b, n_in, dtype=F64)
    state = ctrl.initial_state(b)
    h, c = ctrl.initial[0].expand(b, -1), ctrl.initial[1].expand(b, -1)
    for x in xs:
        out, state = ctrl(x, state)
        h, c = cell(x, (h, c))
        torch.testing.assert_close(out, h, rtol=0, atol=1e-14)
        torch.testing.assert_close(state[0], h, rtol=0, atol=1e-14)
        torch.testing.assert_close(state[1], c, rtol=0, atol=1e-14)


def test_lstm_two_layers_equals_torch_lstm():
    """The stack of cells is the standard stacked LSTM: the same as ``nn.LSTM(num_layers=2)``
    with the same weights, step by step from the learned initial state."""
    torch.manual_seed(1)
    n_in, size, b, steps, layers = 4, 6, 2, 5, 2
    ctrl = LSTMController(n_in, size, layers).double()
    randomise_initial(ctrl)
    ref = nn.LSTM(n_in, size, num_layers=layers).double()
    with torch.no_grad():
        for i, cell in enumerate(ctrl.cells):
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(ref, f"{name}_l{i}").copy_(getattr(cell, name))
    xs = torch.randn(steps, b, n_in, dtype=F64)
    h0 = ctrl.initial[0::2].unsqueeze(1).expand(-1, b, -1).contiguous()  # (L, B, size)
    c0 = ctrl.initial[1::2].unsqueeze(1).expand(-1, b, -1).contiguous()
    expected, (h_n, c_n) = ref(xs, (h0, c0))
    state = ctrl.initial_state(b)
    outs = []
    for x in xs:
        out, state = ctrl(x, state)
        outs.append(out)
    torch.testing.assert_close(torch.stack(outs), expected, rtol=0, atol=1e-12)
    torch.testing.assert_close(torch.stack(state[0::2]), h_n, rtol=0, atol=1e-12)
    torch.testing.assert_close(torch.stack(state[1::2]), c_n, rtol=0, atol=1e-12)


def test_lstm_state_carries_information():
    """A recurrent controller: the same input after different histories gives different
    outputs (what the feedforward controller must not do)."""
    torch.manual_seed(2)
    ctrl = LSTMController(3, 4, 1)
    x = torch.randn(1, 3)
    state = ctrl.initial_state(1)
    first, state = ctrl(x, state)
    second, _ = ctrl(x, state)
    assert not torch.allclose(first, second)


# ---------------------------------------------------------------------------------------------
# Feedforward
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("layers", [1, 2])
def test_feedforward_shapes_and_empty_state(layers):
    b, n_in, size = 4, 7, 5
    ctrl = FeedforwardController(n_in, size, layers)
    assert ctrl.initial_state(b) == ()
    out, state = ctrl(torch.randn(b, n_in), ctrl.initial_state(b))
    assert out.shape == (b, size)
    assert state == ()
    assert sum(isinstance(m, nn.Linear) for m in ctrl.modules()) == layers
    # tanh layers: the output is bounded
    assert (out.abs() < 1).all()


def test_feedforward_is_stateless():
    torch.manual_seed(3)
    ctrl = FeedforwardController(3, 4, 2)
    xs = torch.randn(5, 2, 3)
    state = ctrl.initial_state(2)
    first = []
    for x in xs:
        out, state = ctrl(x, state)
        first.append(out)
    # the same input gives the same output whatever came before, and in any order
    for i in reversed(range(5)):
        out, state = ctrl(xs[i], state)
        torch.testing.assert_close(out, first[i], rtol=0, atol=0)
    out, _ = ctrl(xs[0], ())
    torch.testing.assert_close(out, first[0], rtol=0, atol=0)


def test_feedforward_one_layer_is_tanh_of_linear():
    torch.manual_seed(4)
    ctrl = FeedforwardController(3, 4, 1).double()
    linear = ctrl.layers[0]
    x = torch.randn(2, 3, dtype=F64)
    out, _ = ctrl(x, ())
    torch.testing.assert_close(out, torch.tanh(x @ linear.weight.T + linear.bias))


def _layer_norm(z):
    """Each row to mean 0 and variance 1 (the biased variance, eps 1e-5, as nn.LayerNorm)."""
    mean, var = z.mean(-1, keepdim=True), z.var(-1, unbiased=False, keepdim=True)
    return (z - mean) / torch.sqrt(var + 1e-5)


def test_feedforward_layer_norm_normalises_each_pre_activation():
    """With layer_norm each layer is tanh(g * LN(W x + b) + beta); without it the layers keep
    the parameter names of checkpoints written before the option (layers.0, layers.2)."""
    torch.manual_seed(5)
    ctrl = FeedforwardController(3, 4, 2, layer_norm=True).double()
    with torch.no_grad():
        for norm in (ctrl.layers[1], ctrl.layers[4]):
            norm.weight.uniform_(0.5, 1.5)
            norm.bias.uniform_(-0.5, 0.5)
    x = torch.randn(5, 3, dtype=F64)
    h = x
    for linear, norm in ((ctrl.layers[0], ctrl.layers[1]), (ctrl.layers[3], ctrl.layers[4])):
        h = torch.tanh(norm.weight * _layer_norm(h @ linear.weight.T + linear.bias) + norm.bias)
    torch.testing.assert_close(ctrl(x, ())[0], h)
    plain = FeedforwardController(3, 4, 2)
    assert list(plain.state_dict()) == ["layers.0.weight", "layers.0.bias", "layers.2.weight",
                                        "layers.2.bias"]


def test_lstm_layer_norm_normalises_what_leaves_each_layer_not_the_recurrence():
    """With layer_norm the output (and the next layer's input) is LN of each layer's h; the
    state carries h and c as the cells computed them."""
    torch.manual_seed(6)
    ctrl = LSTMController(3, 4, 2, layer_norm=True).double()
    x = torch.randn(5, 3, dtype=F64)
    state = tuple(s.double() for s in ctrl.initial_state(5))
    out, new = ctrl(x, state)
    h0, c0 = ctrl.cells[0](x, (state[0], state[1]))
    h1, c1 = ctrl.cells[1](ctrl.norms[0](h0), (state[2], state[3]))
    for got, want in zip(new, (h0, c0, h1, c1), strict=True):
        torch.testing.assert_close(got, want)
    torch.testing.assert_close(out, _layer_norm(h1))  # gain 1 and bias 0 at the start
    assert not any("norms" in name for name in LSTMController(3, 4, 2).state_dict())


# ---------------------------------------------------------------------------------------------
# Registry
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind, cls", [("lstm", LSTMController),
                                       ("feedforward", FeedforwardController)])
def test_make_controller(kind, cls):
    ctrl = make_controller(kind, 5, 3, 2)
    assert type(ctrl) is cls
    assert ctrl.size == 3
    out, _ = ctrl(torch.randn(2, 5), ctrl.initial_state(2))
    assert out.shape == (2, 3)


@pytest.mark.parametrize("kind", ["gru", "LSTM", "", "ntm.models.controller.LSTMController"])
def test_make_controller_unknown_kind(kind):
    with pytest.raises(ValueError, match=r"controller\.kind") as info:
        make_controller(kind, 5, 3, 1)
    for allowed in CONTROLLERS:
        assert allowed in str(info.value)
    assert repr(kind) in str(info.value)
