"""The LSTM baseline (ntm/models/lstm.py): shapes, the paper's layout and parameter count,
causality, independence of the sequences of a batch, and that it learns."""

from __future__ import annotations

import pytest
import torch
from conftest import compose_config, losses_fitting_one_batch

from ntm.experiment.build import build_model, build_task
from ntm.models.lstm import LSTMBaseline

pytestmark = pytest.mark.usefixtures("isolated_torch")


def test_shapes_and_the_paper_copy_parameter_count() -> None:
    model = LSTMBaseline(9, 8, hidden_size=256, layers=3)
    # 4*256*(9+256) + 2*4*256, then twice 4*256*(9+256+256) + 2*4*256, then 768*8 + 8.
    by_hand = (4 * 256 * 265 + 2048) + 2 * (4 * 256 * 521 + 2048) + (768 * 8 + 8)
    assert by_hand == 1_350_664
    assert sum(p.numel() for p in model.parameters()) == by_hand
    logits = model(torch.zeros(7, 3, 9))
    assert logits.shape == (7, 3, 8)


def test_every_layer_reads_the_input_and_the_output_reads_every_layer() -> None:
    model = LSTMBaseline(5, 2, hidden_size=4, layers=3)
    assert [lstm.input_size for lstm in model.layers] == [5, 9, 9]
    assert model.output.in_features == 12
    # Skip connections: with layer 1 silenced (all its weights and biases zero, so its output
    # is 0 whatever the input) and the output reading only the top layer, the input still
    # reaches the output; in a plain stack it could not.
    with torch.no_grad():
        for parameter in model.layers[0].parameters():
            parameter.zero_()
        model.output.weight.zero_()
        model.output.weight[:, 8:12] = 1.0
    x = torch.randn(6, 2, 5, requires_grad=True)
    model(x).sum().backward()
    assert x.grad.abs().sum() > 0
    # The output reads every layer: each layer's block of output weights gets a gradient.
    model.zero_grad()
    model(torch.randn(6, 2, 5)).sum().backward()
    grad = model.output.weight.grad
    assert all(grad[:, 4 * i: 4 * i + 4].abs().sum() > 0 for i in (1, 2))
    assert grad[:, 0:4].abs().sum() == 0  # layer 1 is silenced: its block gets nothing


def test_outputs_depend_only_on_the_past_and_on_their_own_sequence() -> None:
    torch.manual_seed(0)
    model = LSTMBaseline(3, 2, hidden_size=6, layers=2)
    inputs = torch.randn(10, 4, 3)
    logits = model(inputs)
    changed = inputs.clone()
    changed[6:, 0] += 5.0  # the future of sequence 0
    changed[:, 1] -= 3.0  # all of sequence 1
    again = model(changed)
    assert torch.equal(again[:6, 0], logits[:6, 0])
    assert not torch.allclose(again[6:, 0], logits[6:, 0])
    assert torch.equal(again[:, 2:], logits[:, 2:])  # other sequences untouched
    assert torch.allclose(model(inputs[:, 2:3]), logits[:, 2:3], atol=1e-6)  # batch of one


def test_bad_sizes_are_one_sentence() -> None:
    for kwargs, name in (({"hidden_size": 0}, "hidden_size"), ({"layers": 0}, "layers")):
        with pytest.raises(ValueError, match=f"^{name} is 0; it must be at least 1.$"):
            LSTMBaseline(3, 2, **kwargs)


def test_model_lstm_builds_the_baseline_for_the_task_and_learns() -> None:
    cfg = compose_config(["model=lstm", "model.size=16", "model.layers=2", "task.max_length=3"])
    task = build_task(cfg)
    torch.manual_seed(0)
    model = build_model(cfg, task)
    assert isinstance(model, LSTMBaseline) and len(model.layers) == 2
    assert model.layers[0].input_size == task.input_width
    assert model.output.out_features == task.output_width
    losses = losses_fitting_one_batch(model, task)  # the loss must fall well below chance
    assert losses[0] > 0.6 and losses[-1] < 0.5 * losses[0], losses[::10]
