"""Tests of ntm/math/similarity.py and the ``model.similarity`` setting: the dot, scaled dot
and additive scores beside the paper's cosine.

Checks: worked examples computed by hand; slow Python-loop references; gradcheck (float64);
finite values and gradients at the extremes cosine is tested at (zero memory, zero key, key
strength 1e3); the heads own the additive parameters; the default leaves the NTM as it was;
a bad name is one sentence naming model.similarity.
"""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from conftest import (
    TINY,
    assert_distribution,
    assert_finite_values_and_grads,
    assert_one_sentence,
    compose_config,
    tiny_run,
)
from omegaconf import OmegaConf

from ntm.experiment.config import ConfigError, checkpoint_mismatch, validate
from ntm.experiment.loop import train
from ntm.math.addressing import address, content_weights, cosine_similarity
from ntm.math.similarity import (
    SIMILARITIES,
    additive_similarity,
    dot_similarity,
    scaled_dot_similarity,
)
from ntm.models.heads import Heads
from ntm.models.ntm import NTM, NTMConfig

pytestmark = pytest.mark.usefixtures("isolated_torch")

F64 = torch.float64


def t(values, dtype=F64) -> torch.Tensor:
    return torch.tensor(values, dtype=dtype)


def additive_parameters(gen, h, a, m, dtype=F64):
    return (torch.randn(h, a, m, generator=gen, dtype=dtype),
            torch.randn(h, a, m, generator=gen, dtype=dtype),
            torch.randn(h, a, generator=gen, dtype=dtype))


def scores(name: str, memory, key, params=None):
    """K of ``name`` (additive with ``params``)."""
    return {"cosine": cosine_similarity, "dot": dot_similarity,
            "scaled_dot": scaled_dot_similarity}[name](memory, key) if name != "additive" \
        else additive_similarity(memory, key, *params)


# --- Worked examples, computed by hand. ---

MEMORY = [[[1.0, 0.0], [0.0, 2.0], [3.0, 1.0]]]  # N = 3, M = 2
KEY = [[[2.0, 0.0], [1.0, -1.0]]]  # H = 2


def test_dot_similarity_by_hand():
    # head 0: 2*1, 0, 2*3; head 1: 1, -2, 3 - 1
    expected = t([[[2.0, 0.0, 6.0], [1.0, -2.0, 2.0]]])
    torch.testing.assert_close(dot_similarity(t(MEMORY), t(KEY)), expected, rtol=0, atol=1e-12)


def test_scaled_dot_similarity_by_hand():
    expected = t([[[2.0, 0.0, 6.0], [1.0, -2.0, 2.0]]]) / math.sqrt(2)  # sqrt(M), M = 2
    torch.testing.assert_close(scaled_dot_similarity(t(MEMORY), t(KEY)), expected,
                               rtol=0, atol=1e-12)


def test_additive_similarity_by_hand():
    # One head, W = U = identity, v = (1, 1): K = tanh(k1 + m1) + tanh(k2 + m2).
    memory = t([[[0.5, 0.0], [0.0, -0.5], [0.0, 0.0]]])
    key = t([[[0.5, 0.0]]])
    eye, v = torch.eye(2, dtype=F64).unsqueeze(0), t([[1.0, 1.0]])
    expected = t([[[math.tanh(1.0), math.tanh(0.5) + math.tanh(-0.5), math.tanh(0.5)]]])
    torch.testing.assert_close(additive_similarity(memory, key, eye, eye, v), expected,
                               rtol=0, atol=1e-12)
    # A second head with W = 2 I, U = 0, v = (1, -1): K = tanh(2 k1) - tanh(2 k2), every row.
    w = torch.stack([torch.eye(2), 2 * torch.eye(2)]).to(F64)
    u = torch.stack([torch.eye(2), torch.zeros(2, 2)]).to(F64)
    v2 = t([[1.0, 1.0], [1.0, -1.0]])
    two = additive_similarity(memory, key.expand(1, 2, 2), w, u, v2)
    torch.testing.assert_close(two[0, 1], torch.full((3,), math.tanh(1.0), dtype=F64))


def test_content_weights_with_dot_by_hand():
    beta = t([[1.0, 0.5]])
    e0 = [math.exp(2.0), math.exp(0.0), math.exp(6.0)]
    e1 = [math.exp(0.5), math.exp(-1.0), math.exp(1.0)]
    expected = t([[[x / sum(e0) for x in e0], [x / sum(e1) for x in e1]]])
    torch.testing.assert_close(content_weights(t(MEMORY), t(KEY), beta, dot_similarity),
                               expected, rtol=0, atol=1e-12)


# --- Slow loop references. ---


def loop_reference(name, memory, key, params=None):
    b, n, m = memory.shape
    h = key.shape[1]
    out = torch.zeros(b, h, n, dtype=memory.dtype)
    for i, j, k in itertools.product(range(b), range(h), range(n)):
        kv, row = key[i, j].tolist(), memory[i, k].tolist()
        dot = sum(x * y for x, y in zip(kv, row, strict=True))
        if name == "dot":
            out[i, j, k] = dot
        elif name == "scaled_dot":
            out[i, j, k] = dot / math.sqrt(m)
        else:
            w, u, v = (p[j].tolist() for p in params)
            out[i, j, k] = sum(
                v[a] * math.tanh(sum(w[a][c] * kv[c] + u[a][c] * row[c] for c in range(m)))
                for a in range(len(v)))
    return out


@pytest.mark.parametrize("name", ["dot", "scaled_dot", "additive"])
@pytest.mark.parametrize("b, h, n, m, a", [(1, 1, 3, 2, 2), (2, 3, 5, 4, 3)])
def test_against_loop_reference(name, b, h, n, m, a):
    gen = torch.Generator().manual_seed(b * 100 + n)
    memory = torch.randn(b, n, m, generator=gen, dtype=F64)
    key = torch.randn(b, h, m, generator=gen, dtype=F64)
    params = additive_parameters(gen, h, a, m)
    torch.testing.assert_close(scores(name, memory, key, params),
                               loop_reference(name, memory, key, params), rtol=1e-10, atol=1e-10)


# --- Gradients. ---


@pytest.mark.parametrize("name", ["dot", "scaled_dot", "additive"])
def test_gradcheck(name):
    gen = torch.Generator().manual_seed(3)
    memory = torch.randn(2, 4, 3, generator=gen, dtype=F64, requires_grad=True)
    key = torch.randn(2, 2, 3, generator=gen, dtype=F64, requires_grad=True)
    beta = (5 * torch.rand(2, 2, generator=gen, dtype=F64)).requires_grad_()
    params = tuple(p.requires_grad_() for p in additive_parameters(gen, 2, 3, 3))
    if name == "additive":
        assert torch.autograd.gradcheck(additive_similarity, (memory, key, *params))

        def similarity(mem, k):
            return additive_similarity(mem, k, *params)
    else:
        similarity = {"dot": dot_similarity, "scaled_dot": scaled_dot_similarity}[name]
        assert torch.autograd.gradcheck(similarity, (memory, key))
    assert torch.autograd.gradcheck(
        lambda mem, k, s: content_weights(mem, k, s, similarity), (memory, key, beta))


def _extremes():
    n, m = 5, 3
    gen = torch.Generator().manual_seed(0)
    rows = torch.randn(2, n, m, generator=gen)
    memories = {"zero_memory": torch.zeros(2, n, m),
                "constant_memory": torch.full((2, n, m), 1e-6), "random_memory": rows}
    keys = {"zero_key": lambda mem: torch.zeros(2, 2, m),
            "key_is_row": lambda mem: mem[:, [1, 3]].clone(),
            "random_key": lambda mem: torch.randn(2, 2, m, generator=gen)}
    for name, (mem_name, mem), (key_name, key_fn), beta in itertools.product(
            ["dot", "scaled_dot", "additive"], memories.items(), keys.items(), [0.0, 1.0, 1e3]):
        yield pytest.param(name, mem, key_fn(mem), beta,
                           id=f"{name}-{mem_name}-{key_name}-{beta}")


@pytest.mark.parametrize(("name", "memory", "key", "beta"), list(_extremes()))
def test_finite_values_and_gradients_in_extreme_cases(name, memory, key, beta):
    """float32, as in training: the score, content weights and the whole address stay finite
    with finite gradients reaching the memory, the key, the strength and the W, U, v."""
    heads = Heads(4, 1, 1, memory.shape[-1], 1, similarity=name)
    inputs = dict(memory=memory.clone().requires_grad_(), key=key.clone().requires_grad_())
    assert_finite_values_and_grads(heads.similarity(**inputs), inputs, name)
    inputs = dict(memory=memory.clone().requires_grad_(), key=key.clone().requires_grad_(),
                  key_strength=torch.full((2, 2), beta, requires_grad=True))
    w = content_weights(**inputs, similarity=heads.similarity)
    assert_finite_values_and_grads(w, inputs, name)
    assert_distribution(w.detach())
    previous = torch.full((2, 2, memory.shape[1]), 1 / memory.shape[1])
    out = address(inputs["memory"].detach(), previous, inputs["key"].detach(),
                  inputs["key_strength"].detach(), torch.full((2, 2), 0.5),
                  torch.tensor([0.0, 0.0, 1.0]).expand(2, 2, 3), torch.full((2, 2), 1e3),
                  heads.similarity)
    assert torch.isfinite(out).all()
    assert_distribution(out)
    for parameter in heads.parameters():
        assert parameter.grad is None or torch.isfinite(parameter.grad).all()


# --- The heads own the additive parameters; the NTM uses the chosen score. ---


def test_only_additive_adds_parameters_and_they_are_per_head():
    counts = {name: sum(p.numel() for p in Heads(6, 2, 1, 4, 1, similarity=name).parameters())
              for name in SIMILARITIES}
    assert counts["cosine"] == counts["dot"] == counts["scaled_dot"]
    assert counts["additive"] - counts["cosine"] == 3 * (4 * 4 + 4 * 4 + 4)  # H (W, U, v)
    heads = Heads(6, 2, 1, 4, 1, similarity="additive")
    assert heads.key_projection.shape == (3, 4, 4) and heads.score_vector.shape == (3, 4)


@pytest.mark.parametrize("name", SIMILARITIES)
def test_the_ntm_scores_with_the_chosen_similarity(name):
    torch.manual_seed(0)
    model = NTM(NTMConfig(3, 2, memory_locations=6, memory_width=4, controller_size=8,
                          similarity=name))
    inputs = torch.randn(5, 2, 3)
    memory, key = torch.randn(2, 6, 4), torch.randn(2, 2, 4)
    if name == "additive":
        expected = additive_similarity(memory, key, model.heads.key_projection,
                                       model.heads.memory_projection, model.heads.score_vector)
    else:
        expected = scores(name, memory, key)
    torch.testing.assert_close(model.heads.similarity(memory, key), expected)
    model(inputs).square().sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    if name == "additive":
        assert model.heads.score_vector.grad.abs().sum() > 0


def test_cosine_default_draws_the_same_model_and_outputs_as_before():
    """The default adds no parameter and draws no random number: the same seed gives the same
    weights and outputs as an NTM built without naming a similarity, and the same weighting
    as ``address`` without one (what the NTM did before the setting existed)."""
    torch.manual_seed(1)
    before = NTM(NTMConfig(3, 2, memory_locations=6, memory_width=4, controller_size=8))
    torch.manual_seed(1)
    after = NTM(NTMConfig(3, 2, memory_locations=6, memory_width=4, controller_size=8,
                          similarity="cosine"))
    assert before.state_dict().keys() == after.state_dict().keys()
    assert all(torch.equal(v, after.state_dict()[k]) for k, v in before.state_dict().items())
    inputs = torch.randn(4, 2, 3)
    assert torch.equal(before(inputs), after(inputs))
    gen = torch.Generator().manual_seed(0)
    memory, key = torch.randn(2, 6, 4, generator=gen), torch.randn(2, 2, 4, generator=gen)
    beta = torch.rand(2, 2, generator=gen)
    assert torch.equal(content_weights(memory, key, beta),
                       content_weights(memory, key, beta, after.heads.similarity))


# --- The setting. ---


def test_a_bad_similarity_is_one_sentence_naming_the_setting():
    with pytest.raises(ConfigError) as info:
        validate(compose_config(["model.similarity=euclid"]))
    assert_one_sentence(str(info.value), "model.similarity")
    assert str(info.value) == ("model.similarity is 'euclid'; allowed values are cosine, dot, "
                               "scaled_dot, additive.")
    for name in SIMILARITIES:
        validate(compose_config([f"model.similarity={name}"]))


def test_resume_with_another_similarity_is_refused_and_an_older_checkpoint_is_cosine(tmp_path):
    trained = OmegaConf.to_container(compose_config([*TINY]), resolve=True)
    other = OmegaConf.to_container(compose_config([*TINY, "model.similarity=dot"]),
                                   resolve=True)
    assert checkpoint_mismatch(trained, other) == ("model.similarity", "cosine", "dot")
    older = {**trained, "model": {k: v for k, v in trained["model"].items()
                                  if k != "similarity"}}
    assert checkpoint_mismatch(older, trained) is None  # written before the setting existed
    assert checkpoint_mismatch(older, other)[0] == "model.similarity"
    train(tiny_run(2, 2, "model.similarity=additive"), tmp_path)
    with pytest.raises(ConfigError) as info:
        train(tiny_run(4, 2, "model.similarity=scaled_dot"), tmp_path)
    assert_one_sentence(str(info.value), "model.similarity")
    assert train(tiny_run(4, 2, "model.similarity=additive"), tmp_path).step == 4
