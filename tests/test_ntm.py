"""Tests of ntm/models/ntm.py: the whole NTM over a sequence, its trace, its config and its size.

Checks: shapes for both controllers and several head counts and memory sizes; the trace (one
entry per step, weightings that are distributions, and consistency with the pure ``read`` and
``write`` functions); gradients reach every parameter and stay finite under extreme inputs;
sequences of a batch are independent and the state is reset for every call; the config
rejects bad values; dtype and device follow the model; the parameter count of the paper's copy
settings, derived by hand.
"""

from __future__ import annotations

import pytest
import torch
from conftest import assert_distribution

from ntm.math.memory import CONSTANT_INIT_VALUE, MEMORY_INITS, read, write
from ntm.models.controller import CONTROLLERS
from ntm.models.ntm import NTM, NTMConfig, Trace, parameter_count

F64 = torch.float64


SMALL = dict(input_size=3, output_size=2, memory_locations=8, memory_width=4, controller_size=10)


def small_config(**overrides) -> NTMConfig:
    return NTMConfig(**{**SMALL, **overrides})


def make_model(seed: int = 0, dtype=F64, **overrides) -> NTM:
    torch.manual_seed(seed)
    return NTM(small_config(**overrides)).to(dtype)


def randomise(model: NTM, seed: int = 0) -> NTM:
    """Give the zero-initialised biases (initial reads and controller state) random values, so
    that tests of their use and their gradients are not trivially met."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        model.initial_reads.copy_(0.5 * torch.randn(model.initial_reads.shape, generator=gen))
        if hasattr(model.controller, "initial"):
            initial = model.controller.initial
            initial.copy_(0.5 * torch.randn(initial.shape, generator=gen))
    return model


def inputs(t: int, b: int, n_in: int = 3, seed: int = 0, dtype=F64) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(t, b, n_in, generator=gen, dtype=dtype)


HEAD_COUNTS = [(1, 1), (2, 1), (1, 3), (4, 4), (0, 1), (1, 0)]


# ---------------------------------------------------------------------------------------------
# Shapes
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("controller", ["lstm", "feedforward"])
@pytest.mark.parametrize("read_heads, write_heads", HEAD_COUNTS)
@pytest.mark.parametrize("n, m", [(8, 4), (5, 7)])
def test_output_shape(controller, read_heads, write_heads, n, m):
    model = make_model(controller=controller, read_heads=read_heads, write_heads=write_heads,
                       memory_locations=n, memory_width=m)
    logits = model(inputs(4, 3))
    assert logits.shape == (4, 3, 2)
    assert logits.dtype == F64
    assert torch.isfinite(logits).all()


@pytest.mark.parametrize("controller", ["lstm", "feedforward"])
@pytest.mark.parametrize("read_heads, write_heads", HEAD_COUNTS)
def test_trace_shapes_one_entry_per_step(controller, read_heads, write_heads):
    t, b, n, m = 5, 2, 8, 4
    model = make_model(controller=controller, read_heads=read_heads, write_heads=write_heads)
    logits, trace = model(inputs(t, b), trace=True)
    assert isinstance(trace, Trace)
    assert logits.shape == (t, b, 2)
    expected = Trace(
        read_weights=(t, b, read_heads, n),
        write_weights=(t, b, write_heads, n),
        erase=(t, b, write_heads, m),
        add=(t, b, write_heads, m),
        reads=(t, b, read_heads, m),
        memory=(t, b, n, m),
    )
    for name, shape in expected._asdict().items():
        field = getattr(trace, name)
        assert field.shape == shape, name
        assert not field.requires_grad, f"{name} is not detached"


@pytest.mark.parametrize("controller_layers", [1, 2])
def test_two_layer_controllers(controller_layers):
    for controller in CONTROLLERS:
        model = make_model(controller=controller, controller_layers=controller_layers)
        assert model(inputs(3, 2)).shape == (3, 2, 2)


# ---------------------------------------------------------------------------------------------
# The trace agrees with the pure functions
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("controller", ["lstm", "feedforward"])
@pytest.mark.parametrize("read_heads, write_heads", [(1, 1), (2, 3), (4, 4)])
@pytest.mark.parametrize("memory_init", MEMORY_INITS)
def test_trace_is_consistent_with_read_and_write(controller, read_heads, write_heads,
                                                 memory_init):
    """memory[t] == write(memory[t-1], ...) and reads[t] == read(memory[t-1], ...), with
    memory[-1] the initial memory; every weighting is a distribution over the N locations."""
    t, b = 6, 3
    model = randomise(make_model(controller=controller, read_heads=read_heads,
                                 write_heads=write_heads, memory_init=memory_init))
    _, trace = model(inputs(t, b), trace=True, generator=torch.Generator().manual_seed(5))
    initial = model.initial_state(b, torch.Generator().manual_seed(5)).memory.memory
    previous = torch.cat([initial.unsqueeze(0), trace.memory[:-1]])  # (T, B, N, M)
    for step in range(t):
        expected_memory = write(previous[step], trace.write_weights[step], trace.erase[step],
                                trace.add[step])
        torch.testing.assert_close(trace.memory[step], expected_memory, rtol=0, atol=1e-12)
        expected_reads = read(previous[step], trace.read_weights[step])
        torch.testing.assert_close(trace.reads[step], expected_reads, rtol=0, atol=1e-12)
    assert_distribution(trace.read_weights, atol_float64=1e-12)
    assert_distribution(trace.write_weights, atol_float64=1e-12)
    assert ((trace.erase > 0) & (trace.erase < 1)).all()
    assert (trace.add.abs() < 1).all()
    # the heads really write: memory moves away from its initial value
    assert not torch.allclose(trace.memory[-1], initial)


def test_trace_float32_weightings_are_distributions():
    model = make_model(dtype=torch.float32, read_heads=2, write_heads=2)
    _, trace = model(inputs(8, 4, dtype=torch.float32), trace=True)
    assert_distribution(trace.read_weights, atol_float64=1e-12)
    assert_distribution(trace.write_weights, atol_float64=1e-12)


@pytest.mark.parametrize("controller", ["lstm", "feedforward"])
def test_logits_identical_with_and_without_trace(controller):
    model = randomise(make_model(controller=controller, read_heads=2, write_heads=2))
    x = inputs(5, 3)
    plain = model(x)
    traced, _ = model(x, trace=True)
    torch.testing.assert_close(plain, traced, rtol=0, atol=0)


def test_forward_equals_stepping_from_the_initial_state():
    """forward is the obvious loop: step from initial_state, then the output layer on
    [h_t, r_t] (the reads of the same step)."""
    model = randomise(make_model(read_heads=2, write_heads=1))
    x = inputs(5, 2)
    state = model.initial_state(2)
    expected = []
    for x_t in x:
        h, state, _ = model.step(x_t, state)
        expected.append(model.output(torch.cat([h, state.memory.reads.flatten(1)], dim=-1)))
    torch.testing.assert_close(model(x), torch.stack(expected), rtol=0, atol=1e-14)


# ---------------------------------------------------------------------------------------------
# The initial state and resetting it
# ---------------------------------------------------------------------------------------------


def test_initial_state():
    model = randomise(make_model(read_heads=2, write_heads=1, memory_init="learned"))
    state = model.initial_state(3)
    torch.testing.assert_close(state.memory.memory, model.memory_bias.expand(3, -1, -1))
    torch.testing.assert_close(state.memory.reads, model.initial_reads.expand(3, -1, -1))
    # previous weightings: every head focused on location 0
    expected = torch.zeros(3, 3, 8, dtype=F64)
    expected[..., 0] = 1
    torch.testing.assert_close(state.memory.weights, expected)
    assert len(state.controller) == 2


def test_constant_memory_init_is_a_buffer():
    model = make_model(memory_init="constant")
    assert "memory_bias" in dict(model.named_buffers())
    assert "memory_bias" not in dict(model.named_parameters())
    memory = model.initial_state(2).memory.memory
    torch.testing.assert_close(memory, torch.full((2, 8, 4), CONSTANT_INIT_VALUE, dtype=F64))


def test_learned_initial_weighting_is_a_trained_distribution_per_head():
    model = make_model(initial_weighting="learned", read_heads=2, write_heads=1)
    assert "initial_weight_logits" in dict(model.named_parameters())
    assert "initial_weights" not in dict(model.named_buffers())
    start = model.initial_state(3).memory.weights  # (B, H, N)
    assert start.shape == (3, 3, 8)
    assert_distribution(start)
    torch.testing.assert_close(start[0], torch.softmax(model.initial_weight_logits, -1))
    assert not torch.allclose(start[0, 0], torch.full((8,), 1 / 8, dtype=F64))  # asymmetric
    model(inputs(5, 3)).sum().backward()
    grad = model.initial_weight_logits.grad
    assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0


def test_initial_weighting_onehot_is_a_fixed_focus_and_bad_names_are_refused():
    model = make_model(initial_weighting="onehot")
    assert "initial_weight_logits" not in dict(model.named_parameters())
    assert parameter_count(model) + 8 * 2 == parameter_count(
        make_model(initial_weighting="learned"))
    with pytest.raises(ValueError, match="memory.initial_weighting is 'uniform'; allowed "
                                         "values are onehot, learned"):
        small_config(initial_weighting="uniform")


@pytest.mark.parametrize("controller", ["lstm", "feedforward"])
@pytest.mark.parametrize("memory_init", ["constant", "learned"])
def test_state_does_not_leak_between_calls(controller, memory_init):
    model = randomise(make_model(controller=controller, memory_init=memory_init))
    x = inputs(6, 2)
    first, first_trace = model(x, trace=True)
    model(inputs(9, 2, seed=1))  # something else in between
    second, second_trace = model(x, trace=True)
    torch.testing.assert_close(first, second, rtol=0, atol=0)
    for a, b in zip(first_trace, second_trace, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


@pytest.mark.parametrize("controller", ["lstm", "feedforward"])
@pytest.mark.parametrize("memory_init", ["constant", "learned"])
def test_sequences_of_a_batch_are_independent(controller, memory_init):
    model = randomise(make_model(controller=controller, memory_init=memory_init,
                                 read_heads=2, write_heads=2))
    x = inputs(6, 3)
    together, trace = model(x, trace=True)
    for b in range(3):
        alone, alone_trace = model(x[:, b : b + 1], trace=True)
        torch.testing.assert_close(alone[:, 0], together[:, b], rtol=0, atol=1e-12)
        torch.testing.assert_close(alone_trace.memory[:, 0], trace.memory[:, b],
                                   rtol=0, atol=1e-12)


def test_random_memory_init_is_reproducible_with_a_seeded_generator():
    model = make_model(memory_init="random")
    x = inputs(4, 3)
    a, trace_a = model(x, trace=True, generator=torch.Generator().manual_seed(7))
    b, trace_b = model(x, trace=True, generator=torch.Generator().manual_seed(7))
    c = model(x, generator=torch.Generator().manual_seed(8))
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    torch.testing.assert_close(trace_a.memory, trace_b.memory, rtol=0, atol=0)
    assert not torch.allclose(a, c)
    # fresh noise per sequence: the same input in every row still gives different memories
    same = inputs(4, 1).expand(-1, 3, -1)
    memory = model.initial_state(3, torch.Generator().manual_seed(7)).memory.memory
    assert not torch.allclose(memory[0], memory[1])
    logits = model(same, generator=torch.Generator().manual_seed(7))
    assert not torch.allclose(logits[:, 0], logits[:, 1])


# ---------------------------------------------------------------------------------------------
# Gradients
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("controller", ["lstm", "feedforward"])
@pytest.mark.parametrize("memory_init", ["constant", "learned"])
@pytest.mark.parametrize("read_heads, write_heads", [(1, 1), (2, 3)])
def test_gradient_reaches_every_parameter(controller, memory_init, read_heads, write_heads):
    model = randomise(make_model(controller=controller, memory_init=memory_init,
                                 read_heads=read_heads, write_heads=write_heads))
    x = inputs(5, 2)
    target = torch.rand(5, 2, 2, generator=torch.Generator().manual_seed(1), dtype=F64)
    loss = torch.nn.functional.binary_cross_entropy_with_logits(model(x), target)
    loss.backward()
    names = [name for name, _ in model.named_parameters()]
    assert ("memory_bias" in names) == (memory_init == "learned")
    for name, p in model.named_parameters():
        assert p.grad is not None, f"{name} has no gradient"
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().max() > 0, f"{name} has an all-zero gradient"
    # every output of the head layer feeds the loss (no head parameter is dead)
    assert (model.heads.linear.weight.grad.abs().sum(1) > 0).all()
    if hasattr(model.controller, "initial"):
        assert (model.controller.initial.grad.abs().sum(1) > 0).all()
    assert (model.initial_reads.grad.abs().sum(1) > 0).all()


@pytest.mark.parametrize("controller", ["lstm", "feedforward"])
@pytest.mark.parametrize("value", [1e3, -1e3, 0.0])
@pytest.mark.parametrize("clip", [20.0, None])
def test_finite_under_extreme_inputs(controller, value, clip):
    """Inputs of +-1e3 saturate the controller and zeros leave the constant memory (1e-6 in
    every cell, a 0/0 for plain cosine similarity) in place; with head weights scaled by 1e3 the
    key strengths and sharpenings are huge when clip is None. Everything stays finite."""
    torch.manual_seed(0)
    model = NTM(small_config(controller=controller, clip=clip, memory_init="constant",
                             read_heads=2, write_heads=2))  # float32, as trained
    with torch.no_grad():
        model.heads.linear.weight.mul_(1e3)
    x = torch.full((8, 2, 3), value)
    logits, trace = model(x, trace=True)
    logits.sum().backward()
    assert torch.isfinite(logits).all()
    for field in trace:
        assert torch.isfinite(field).all()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name


@pytest.mark.parametrize("value", [1e3, 0.0])
def test_finite_gradients_with_default_weights_and_zero_memory(value):
    """Plain float32 model, default initialisation, constant memory: finite gradients."""
    torch.manual_seed(1)
    model = NTM(small_config(memory_init="constant"))
    x = torch.full((10, 3, 3), value)
    model(x).pow(2).mean().backward()
    for name, p in model.named_parameters():
        assert torch.isfinite(p.grad).all(), name


# ---------------------------------------------------------------------------------------------
# dtype and device follow the model
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("memory_init", MEMORY_INITS)
def test_float64_model_computes_in_float64(memory_init):
    torch.manual_seed(0)
    model = NTM(small_config(memory_init=memory_init)).double()
    logits, trace = model(inputs(4, 2), trace=True)
    assert logits.dtype == F64
    for field in trace:
        assert field.dtype == F64
    logits.sum().backward()
    assert all(p.grad.dtype == F64 for p in model.parameters())


@pytest.mark.parametrize("memory_init", MEMORY_INITS)
def test_meta_device(memory_init):
    """No tensor is made on a fixed device: the whole pass runs on 'meta' (shapes only)."""
    torch.manual_seed(0)
    model = NTM(small_config(memory_init=memory_init, read_heads=2, write_heads=2)).to("meta")
    logits, trace = model(torch.empty(4, 2, 3, device="meta"), trace=True)
    assert logits.device.type == "meta" and logits.shape == (4, 2, 2)
    for field in trace:
        assert field.device.type == "meta"
    logits.sum().backward()
    assert all(p.grad.device.type == "meta" for p in model.parameters())


@pytest.mark.gpu
@pytest.mark.parametrize("controller", ["lstm", "feedforward"])
@pytest.mark.parametrize("memory_init", MEMORY_INITS)
def test_cuda_matches_cpu(controller, memory_init):
    model = randomise(make_model(controller=controller, memory_init=memory_init,
                                 read_heads=2, write_heads=2))
    x = inputs(6, 3)
    cpu_logits = model(x, generator=torch.Generator().manual_seed(3))
    cpu_logits.sum().backward()
    cpu_grads = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    model.cuda()
    gen = torch.Generator(device="cuda").manual_seed(3)
    logits = model(x.cuda(), generator=gen)
    assert logits.device.type == "cuda"
    logits.sum().backward()
    if memory_init != "random":  # the CUDA generator draws other numbers
        torch.testing.assert_close(logits.cpu(), cpu_logits, rtol=1e-9, atol=1e-9)
        for name, p in model.named_parameters():
            torch.testing.assert_close(p.grad.cpu(), cpu_grads[name], rtol=1e-7, atol=1e-9)
    for p in model.parameters():
        assert p.grad.device.type == "cuda" and torch.isfinite(p.grad).all()


# ---------------------------------------------------------------------------------------------
# Config validation
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "overrides, setting",
    [
        (dict(input_size=0), "input_size"),
        (dict(output_size=0), "output_size"),
        (dict(memory_locations=0), "memory_locations"),
        (dict(memory_width=0), "memory_width"),
        (dict(controller_size=0), "controller_size"),
        (dict(controller_layers=0), "controller_layers"),
        (dict(read_heads=-1), "read_heads"),
        (dict(write_heads=-1), "write_heads"),
        (dict(shift_radius=-1), "shift_radius"),
        (dict(read_heads=0, write_heads=0), "heads"),
        (dict(memory_locations=8, shift_radius=4), "shift_radius"),
        (dict(memory_locations=2, shift_radius=1), "shift_radius"),
        (dict(controller="gru"), r"controller\.kind"),
        (dict(memory_init="zeros"), r"memory\.init"),
        (dict(write_gate_bias=float("nan")), "write_gate_bias"),
        (dict(write_gate_bias=-101.0), "write_gate_bias"),
        (dict(write_gate_bias=1e300), "write_gate_bias"),
    ],
)
def test_config_rejects_bad_values(overrides, setting):
    with pytest.raises(ValueError, match=setting):
        small_config(**overrides)


def test_config_accepts_edge_values():
    small_config(memory_locations=7, shift_radius=3)  # 2R + 1 == N
    small_config(shift_radius=0)
    small_config(read_heads=0, write_heads=1)
    small_config(read_heads=1, write_heads=0)
    small_config(memory_locations=1, memory_width=1, controller_size=1, shift_radius=0)
    small_config(clip=None)
    small_config(write_gate_bias=-100.0)
    small_config(write_gate_bias=100.0)


def test_write_gate_bias_reaches_the_heads():
    model = NTM(small_config(write_gate_bias=-3.0))
    c = model.config
    size = c.memory_width + 3 + 2 * c.shift_radius + 1
    writes = range(c.read_heads, c.read_heads + c.write_heads)
    gates = [h * size + c.memory_width + 2 for h in writes]
    assert model.heads.linear.bias[gates].tolist() == [-3.0] * c.write_heads


# ---------------------------------------------------------------------------------------------
# Parameter count of the paper's copy settings (spec section 5)
# ---------------------------------------------------------------------------------------------


def paper_copy_config(controller: str, memory_init: str) -> NTMConfig:
    """Copy: 8-bit vectors plus a delimiter channel in, 8 bits out; controller 100; one read
    and one write head; memory 128 x 20; shifts -1..1."""
    return NTMConfig(input_size=9, output_size=8, memory_locations=128, memory_width=20,
                     read_heads=1, write_heads=1, controller=controller, controller_size=100,
                     controller_layers=1, shift_radius=1, memory_init=memory_init)


def copy_count_by_hand(controller: str, memory_init: str) -> int:
    x, y, c, n, m, r = 9, 8, 100, 128, 20, 1
    hr, hw = 1, 1
    controller_in = x + hr * m  # 29: input and the previous read
    if controller == "lstm":
        # 4 gates, each weights over [input, h] and two bias vectors (PyTorch: b_ih and b_hh)
        body = 4 * c * (controller_in + c) + 2 * 4 * c  # 52,400
        body += 2 * c  # learned initial h and c: 200
    else:
        body = controller_in * c + c  # one tanh layer: 3,000
    per_head = m + 1 + 1 + 1 + (2 * r + 1)  # key, strength, sharpening, gate, shifts: 26
    head_out = (hr + hw) * per_head + hw * 2 * m  # + erase and add: 92
    heads = c * head_out + head_out  # 9,292
    output = (c + hr * m) * y + y  # from [h, r]: 968
    initial_reads = hr * m  # 20
    memory = n * m if memory_init == "learned" else 0  # constant: a buffer, not trained
    return body + heads + output + initial_reads + memory


@pytest.mark.parametrize(
    "controller, memory_init, expected",
    [
        ("lstm", "constant", 62_880),  # paper: 67,561
        ("lstm", "learned", 65_440),
        ("feedforward", "constant", 13_280),  # paper: 17,162
        ("feedforward", "learned", 15_840),
    ],
)
def test_paper_copy_parameter_count(controller, memory_init, expected):
    model = NTM(paper_copy_config(controller, memory_init))
    count = parameter_count(model)
    print(f"paper copy settings, {controller} controller, memory_init={memory_init}: "
          f"{count:,} parameters")
    assert copy_count_by_hand(controller, memory_init) == expected
    assert count == expected
    # the count is over trainable parameters only
    assert count == sum(p.numel() for p in model.parameters())
    model.initial_reads.requires_grad_(False)
    assert parameter_count(model) == expected - 20
