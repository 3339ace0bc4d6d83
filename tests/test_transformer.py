"""The Transformer baseline (ntm/models/transformer.py, ``model=transformer``): shapes, the
parameter count by hand, causality, each positional encoding, one-sentence errors, that it
learns, and that it trains, resumes, evaluates and is drawn by the same commands as the
other models."""

from __future__ import annotations

import pytest
import torch
from conftest import (
    assert_one_sentence,
    compose_config,
    losses_fitting_one_batch,
    metrics_rows,
    saved,
    tiny_run,
    without_timing,
)

import ntm.results.evaluate
import ntm.results.plot
from ntm.experiment.build import build_model, build_task
from ntm.experiment.config import ConfigError, checkpoint_mismatch, validate
from ntm.experiment.loop import train
from ntm.math.attention import alibi_bias, alibi_slopes
from ntm.models.transformer import (
    POSITIONS,
    SequenceTooLong,
    TransformerBaseline,
    parameter_count,
)
from ntm.results.runs import episode, load_run, model_label

pytestmark = pytest.mark.usefixtures("isolated_torch")

#: A tiny Transformer for the loop: width 8, one layer, two heads, feed-forward 16.
SMALL = ("model=transformer", "model.size=8", "model.layers=1", "model.heads=2",
         "model.ffn_size=16")


def small(positions: str = "sinusoidal", **kwargs) -> TransformerBaseline:
    return TransformerBaseline(3, 2, **{"width": 8, "layers": 2, "heads": 2, "ffn_size": 16,
                                        "positions": positions, "max_steps": 12, **kwargs})


@pytest.mark.parametrize("positions", POSITIONS)
def test_shapes_and_the_parameter_count_by_hand(positions) -> None:
    i, o, w, layers, f, t_max = 9, 8, 128, 3, 512, 41  # copy: 9 bits in, 8 out, 41 steps
    model = TransformerBaseline(i, o, w, layers, 4, f, positions, max_steps=t_max)
    per_layer = 3 * w * w + 3 * w + w * w + w + 2 * w * f + f + w + 4 * w
    assert per_layer == 4 * w * w + 2 * w * f + 9 * w + f
    by_hand = (i + 1) * w + layers * per_layer + 2 * w + (w + 1) * o
    by_hand += t_max * w if positions == "learned" else 0
    assert parameter_count(model) == by_hand
    # The default size on copy: 1,280 + 3 x 198,272 + 256 + 1,032.
    assert parameter_count(TransformerBaseline(i, o, w, layers, 4, f, "alibi")) == 597_384
    logits, trace = model(torch.zeros(7, 3, i), trace=True)
    assert logits.shape == (7, 3, o)
    assert trace.attention.shape == (layers, 3, 4, 7, 7)


@pytest.mark.parametrize("positions", POSITIONS)
def test_outputs_depend_only_on_the_past_and_on_their_own_sequence(positions) -> None:
    torch.manual_seed(0)
    model = small(positions)
    inputs = torch.randn(10, 4, 3)
    logits = model(inputs)
    changed = inputs.clone()
    changed[6:, 0] += 5.0  # the future of sequence 0
    changed[:, 1] -= 3.0  # all of sequence 1
    again = model(changed)
    torch.testing.assert_close(again[:6, 0], logits[:6, 0], rtol=0, atol=1e-6)
    assert not torch.allclose(again[6:, 0], logits[6:, 0])
    torch.testing.assert_close(again[:, 2:], logits[:, 2:], rtol=0, atol=1e-6)
    torch.testing.assert_close(model(inputs[:, 2:3]), logits[:, 2:3], rtol=0, atol=1e-5)
    # The traced forward (explicit weights) gives the fused kernel's logits, and no step
    # attends to a later one.
    traced, trace = model(inputs, trace=True)
    torch.testing.assert_close(traced, logits, rtol=1e-5, atol=1e-5)
    assert (trace.attention.triu(1) == 0).all()
    torch.testing.assert_close(trace.attention.sum(-1), torch.ones(2, 4, 2, 10))


@pytest.mark.parametrize("positions", POSITIONS)
def test_each_positional_encoding_does_what_it_says(positions) -> None:
    """A constant input: without added positions (alibi, none) every step holds the same
    vector, so every step's output is the same; added positions make them differ. With the
    queries and keys zeroed, the attention is the bias alone: uniform over the past for
    sinusoidal, learned and none, ALiBi's distance penalty for alibi."""
    torch.manual_seed(0)
    model = small(positions)
    logits = model(torch.ones(6, 1, 3))
    same = torch.allclose(logits, logits[:1].expand_as(logits), atol=1e-5)
    assert same == (positions in ("alibi", "none"))
    with torch.no_grad():
        for block in model.blocks:
            block.qkv.weight[:16].zero_()  # queries and keys (the first 2 x width rows)
            block.qkv.bias[:16].zero_()
    _, trace = model(torch.randn(6, 1, 3), trace=True)
    if positions == "alibi":
        expected = torch.softmax(alibi_bias(6, alibi_slopes(2)), dim=-1)  # (H, T, T)
    else:
        expected = torch.ones(6, 6).tril() / torch.arange(1, 7).unsqueeze(1)
    torch.testing.assert_close(trace.attention[:, 0], expected.expand(2, 2, 6, 6))


def test_learned_positions_refuse_longer_sequences_in_one_sentence() -> None:
    model = small("learned", max_steps=5)
    assert model.position_embedding.shape == (5, 8)
    assert model(torch.zeros(5, 1, 3)).shape == (5, 1, 2)
    with pytest.raises(SequenceTooLong) as info:
        model(torch.zeros(6, 1, 3))
    assert_one_sentence(str(info.value), "model.positions=learned")
    for positions in ("sinusoidal", "alibi", "none"):  # defined for any length
        assert small(positions, max_steps=5)(torch.zeros(20, 1, 3)).shape == (20, 1, 2)


@pytest.mark.parametrize("kwargs, message", [
    ({"width": 10, "heads": 4}, "width is 10; it must be a multiple of heads (4)."),
    ({"heads": 0}, "heads is 0; it must be at least 1."),
    ({"layers": 0}, "layers is 0; it must be at least 1."),
    ({"ffn_size": 0}, "ffn_size is 0; it must be at least 1."),
    ({"positions": "rope"}, "positions is 'rope'; allowed values are sinusoidal, learned, "
                            "alibi, none."),
    ({"positions": "learned", "max_steps": None}, "max_steps is None; learned positions need "
                                                  "the longest sequence length, at least 1."),
])
def test_bad_arguments_are_one_sentence(kwargs, message) -> None:
    with pytest.raises(ValueError) as info:
        small(**kwargs)
    assert str(info.value) == message


@pytest.mark.parametrize("overrides, message", [
    (["model.size=30"], "model.size is 30; it must be a multiple of model.heads (4)."),
    (["model.positions=rope"], "model.positions is 'rope'; allowed values are sinusoidal, "
                               "learned, alibi, none."),
    (["model.heads=0"], "model.heads is 0; the Transformer baseline needs it greater than 0 "
                        "(choose it with model=transformer, which sets them all)."),
    (["model.ffn_size=100000"], "model.ffn_size is 100000; it must be an integer from 1 to "
                                "16384."),
])
def test_config_errors_name_the_setting_in_one_sentence(overrides, message) -> None:
    cfg = compose_config(["model=transformer", *overrides])
    with pytest.raises(ConfigError) as info:
        validate(cfg)
    assert str(info.value) == message


def test_model_transformer_builds_for_the_task_and_learns() -> None:
    cfg = compose_config([*SMALL, "model.positions=learned", "task.max_length=3"])
    validate(cfg)
    task = build_task(cfg)
    torch.manual_seed(0)
    model = build_model(cfg, task)
    assert isinstance(model, TransformerBaseline) and len(model.blocks) == 1
    assert model.embedding.in_features == task.input_width
    assert model.output.out_features == task.output_width
    assert model.position_embedding.shape[0] == task.max_steps  # sized by the task: 2 * 3 + 2
    assert model_label(cfg) == "Transformer 1 x 8 (2 heads, learned)"
    losses = losses_fitting_one_batch(model, task)  # the loss must fall well below chance
    assert losses[0] > 0.6 and losses[-1] < 0.5 * losses[0], losses[::10]


@pytest.mark.parametrize("positions", ["learned", "alibi"])
def test_trains_and_resumes_exactly_through_the_loop(tmp_path, positions) -> None:
    """Six steps straight, or three and then three more from the checkpoint: the same
    metrics and the same weights and optimizer state."""
    overrides = (*SMALL, f"model.positions={positions}")
    straight, split = tmp_path / "straight", tmp_path / "split"
    train(tiny_run(6, 3, *overrides), straight)
    train(tiny_run(3, 3, *overrides), split)
    assert train(tiny_run(6, 3, *overrides), split).step == 6
    assert without_timing(metrics_rows(split)) == without_timing(metrics_rows(straight))
    a, b = saved(straight), saved(split)
    assert a["model"].keys() == b["model"].keys()
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    # Another encoding or width is another model: resuming with it is refused by name.
    with pytest.raises(ConfigError) as info:
        train(tiny_run(9, 3, *overrides, "model.positions=none"), split)
    assert_one_sentence(str(info.value), "model.positions")
    trained = saved(split)["config"]
    assert checkpoint_mismatch(trained, {**trained, "memory": {"N": 99}}) is None  # not read


def test_evaluate_and_plot_commands(tmp_path, capsys) -> None:
    """ntm.evaluate and ntm.plot on a trained Transformer run: the table, the attention
    pictures, and learned positions refusing longer sequences in one line."""
    from ntm.train import draw_pictures  # what python -m ntm.train draws with

    train(tiny_run(3, 3, *SMALL, "model.positions=learned", "train.pictures=true"), tmp_path,
          draw=draw_pictures)
    names = sorted(p.name for p in (tmp_path / "plots").iterdir())
    assert names == ["attention.png", "learning_curves.png"]
    cfg, task, model = load_run(tmp_path)
    batch, logits, trace = episode(model, task, 0, 3)
    assert trace.attention.shape == (1, 1, 2, len(batch.inputs), len(batch.inputs))
    fig = ntm.results.plot.plot_attention(batch, logits, trace)
    titles = [ax.get_title() for ax in fig.axes]
    assert "Attention (layer 1, head 2)" in titles and "Inputs" in titles
    ntm.results.evaluate.main([str(tmp_path), "--sizes", "1,3", "--sequences", "10"])
    out = capsys.readouterr().out
    assert (tmp_path / "generalisation.csv").is_file()
    assert (tmp_path / "plots" / "attention_size3.png").is_file() and "attention_size3" in out
    with pytest.raises(SystemExit) as info:  # copy of 4: 10 steps, 8 positions learned
        ntm.results.evaluate.main([str(tmp_path), "--sizes", "4", "--sequences", "10"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert_one_sentence(err.strip().removeprefix("error: "), "model.positions=learned")
    with pytest.raises(SystemExit):  # the same through ntm.plot, with a longer task
        ntm.results.plot.main([str(tmp_path), "task.max_length=6"])
    assert "model.positions=learned" in capsys.readouterr().err
