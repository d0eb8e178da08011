"""kdlib.models: every named model builds, has the right output and feature shapes, and grows with size; the ViT's
patches, tokens and positions."""
from __future__ import annotations

import pytest
import torch

from kdlib.errors import ConfigError
from kdlib.models import MODELS, SIZES, ViT, build_model, num_params, parse_model


def test_models_list():
    assert len(MODELS) == 12
    assert {"mlp-tiny", "mlp-large", "cnn-tiny", "cnn-base", "vit-tiny", "vit-small", "vit-large"} <= set(MODELS)


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
    elif family == "vit":
        assert all(f.shape == (5, width, 10) for f in feats)  # [B, width, tokens]: 40 samples in patches of 4
    else:
        assert all(f.ndim == 2 for f in feats)


@pytest.mark.parametrize("name", MODELS)
def test_other_input_shapes(name):
    model = build_model(name, (64,), 3)
    assert model(torch.randn(2, 64)).shape == (2, 3)
    model = build_model(name, (2, 40), 10)  # [C, L]
    assert model(torch.randn(2, 2, 40)).shape == (2, 10)


@pytest.mark.parametrize("family", ["mlp", "cnn", "vit"])
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


# ---- the ViT

def test_vit_patches_by_hand():
    vit = ViT((10,), 3, width=16, depth=1, patch=4)  # 10 samples: 3 patches, the last zero-padded by 2
    assert (vit.tokens, vit.pad) == (3, 2)
    x = torch.arange(10.0)[None]
    assert vit.patches(x).tolist() == [[[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 0, 0]]]
    two = ViT((2, 8), 3, width=16, depth=1, patch=4)  # [C, L]: a patch holds every channel's 4 samples
    x = torch.stack([torch.arange(8.0), 10 + torch.arange(8.0)])[None]
    assert two.patches(x).tolist() == [[[0, 1, 2, 3, 10, 11, 12, 13], [4, 5, 6, 7, 14, 15, 16, 17]]]


def test_vit_image_patches_by_hand():
    vit = ViT((2, 6, 8), 3, width=16, depth=1, patch=4)  # 6×8 pixels: padded to 8×8, a 2×2 grid of 4×4 patches
    assert (vit.grid, vit.pads, vit.tokens) == ((2, 2), (2, 0), 4)
    x = torch.arange(2 * 6 * 8.0).view(1, 2, 6, 8)
    got = vit.patches(x)
    assert got.shape == (1, 4, 2 * 16)
    padded = torch.nn.functional.pad(x, (0, 0, 0, 2))
    for t, (i, j) in enumerate([(0, 0), (0, 1), (1, 0), (1, 1)]):  # row-major over the grid, channels first
        assert torch.equal(got[0, t], padded[0, :, 4 * i:4 * i + 4, 4 * j:4 * j + 4].flatten())
    logits, feats = vit(x, return_features=True)
    assert logits.shape == (1, 3) and feats[0].shape == (1, 16, 4)


def test_vit_shapes_for_every_dataset_shape():
    for shape, tokens in (((40,), 10), ((64,), 16), ((2, 40), 10), ((41,), 11)):
        model = build_model("vit-base", shape, 7)
        width, depth = SIZES["vit"]["base"]
        logits, feats = model(torch.randn(3, *shape), return_features=True)
        assert logits.shape == (3, 7) and model.tokens == tokens
        assert [f.shape for f in feats] == [(3, width, tokens)] * depth
        assert model.pos.shape == (1, tokens, width)


def test_vit_uses_positions_and_every_patch():
    """Learned positions make the ViT order-aware: swapping two patches changes the logits; without positions
    (zeroed) the mean-pooled transformer cannot tell the order; and every patch influences the output."""
    torch.manual_seed(0)
    model = build_model("vit-small", (40,), 10).eval()
    with torch.no_grad():
        model.pos.normal_()
    x = torch.randn(2, 40)
    swapped = torch.cat([x[:, 4:8], x[:, 0:4], x[:, 8:]], dim=1)  # patches 0 and 1 exchanged
    assert not torch.allclose(model(x), model(swapped), atol=1e-5)
    with torch.no_grad():
        model.pos.zero_()
    assert torch.allclose(model(x), model(swapped), atol=1e-5)
    for j in range(10):
        y = x.clone()
        y[:, 4 * j] += 1.0
        assert not torch.allclose(model(x), model(y))
