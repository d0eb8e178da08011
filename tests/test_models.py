"""kdlib.models: every named model builds, has the right output and feature shapes, and grows with size."""
from __future__ import annotations

import pytest
import torch

from kdlib.errors import ConfigError
from kdlib.models import MODELS, SIZES, build_model, num_params, parse_model


def test_models_list():
    assert len(MODELS) == 8
    assert {"mlp-tiny", "mlp-large", "cnn-tiny", "cnn-base"} <= set(MODELS)


@pytest.mark.parametrize("name", MODELS)
def test_every_model_builds_and_outputs_logits(name):
    torch.manual_seed(0)
    model = build_model(name, (40,), 10)
    x = torch.randn(5, 40)
    logits = model(x)
    assert logits.shape == (5, 10)
    assert torch.isfinite(logits).all()
    logits2, feats = model(x, return_features=True)
    family, width, depth = parse_model(name)
    assert len(feats) == depth == len(model.blocks)
    assert torch.equal(logits, logits2)
    for f in feats:
        assert f.shape[0] == 5 and f.shape[1] == width
    if family == "cnn":
        lengths = [f.shape[2] for f in feats]
        assert lengths == [20, 10, 10, 10][:depth]  # the first two blocks halve the length
    else:
        assert all(f.ndim == 2 for f in feats)


@pytest.mark.parametrize("name", MODELS)
def test_other_input_shapes(name):
    model = build_model(name, (64,), 3)
    assert model(torch.randn(2, 64)).shape == (2, 3)
    model = build_model(name, (2, 40), 10)  # [C, L]
    assert model(torch.randn(2, 2, 40)).shape == (2, 10)


@pytest.mark.parametrize("family", ["mlp", "cnn"])
def test_larger_sizes_have_more_parameters(family):
    counts = [num_params(build_model(f"{family}-{size}", (40,), 10)) for size in ("tiny", "small", "base", "large")]
    assert counts == sorted(counts) and len(set(counts)) == 4, counts


def test_num_params_by_hand():
    # mlp-tiny: Linear(40, 32) + Linear(32, 10)
    assert num_params(build_model("mlp-tiny", (40,), 10)) == 40 * 32 + 32 + 32 * 10 + 10
    # cnn-tiny: Conv1d(1, 8, 5) + Conv1d(8, 8, 5) + Linear(8 * 10, 10)
    assert num_params(build_model("cnn-tiny", (40,), 10)) == (1 * 8 * 5 + 8) + (8 * 8 * 5 + 8) + (80 * 10 + 10)


def test_parse_model():
    assert parse_model("cnn-small") == ("cnn", 16, 3)
    assert parse_model("mlp-large") == ("mlp", *SIZES["mlp"]["large"])


def test_unknown_model_lists_known_names():
    with pytest.raises(ConfigError) as e:
        build_model("resnet-huge", (40,), 10)
    msg = str(e.value)
    assert "resnet-huge" in msg
    for name in MODELS:
        assert name in msg


def test_bad_input_rank_is_config_error():
    with pytest.raises(ConfigError, match="input_shape"):
        build_model("cnn-tiny", (3, 8, 8), 10)
