"""chai.synthetic: the shipped synthetic STDiT3 (hash-checked loading) and its exact space-to-depth autoencoder."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from chai.synthetic import MANIFEST_NAME, MODEL_DIR, SpaceToDepthAutoencoder, load_synthetic_model

HAS_MODEL = (MODEL_DIR / MANIFEST_NAME).exists()
needs_model = pytest.mark.skipif(not HAS_MODEL, reason="the shipped synthetic model is missing")


# ---------------------------------------------------------------------------------------------- autoencoder


@pytest.mark.parametrize("factor,hw", [(4, (32, 32)), (2, (6, 10)), (4, (8, 20))])
def test_autoencoder_layout_matches_float64_reference_and_round_trip_is_exact(factor, hw):
    torch.manual_seed(factor + hw[0])
    H, W = hw
    video = torch.rand(2, 3, 5, H, W) * 2 - 1
    ae = SpaceToDepthAutoencoder(factor)
    lat = ae.encode(video)
    assert lat.shape == (2, 3 * factor * factor, 5, H // factor, W // factor)
    # float64 loop reference of the documented channel order: c * f^2 + i * f + j
    ref = np.full(lat.shape, np.nan)
    v = video.double().numpy()
    for c in range(3):
        for i in range(factor):
            for j in range(factor):
                ref[:, c * factor * factor + i * factor + j] = v[:, c, :, i::factor, j::factor]
    np.testing.assert_array_equal(lat.double().numpy(), ref)
    out = torch.full_like(video, float("nan"))
    out.copy_(ae.decode(lat))
    assert torch.equal(out, video)  # bit-exact inverse
    assert ae.get_latent_size([5, H, W]) == [5, H // factor, W // factor]


def test_autoencoder_scale_and_frames_view():
    ae = SpaceToDepthAutoencoder(4, scale=0.5)
    video = torch.rand(1, 3, 3, 32, 32) * 2 - 1
    lat = ae.encode(video)
    assert torch.allclose(lat.abs().max(), video.abs().max() * 0.5)
    assert torch.equal(ae.decode(lat), video)
    frames = ae.decode_to_frames(lat)
    assert frames.shape == (1, 3, 32, 32, 3)
    assert torch.allclose(frames, ((video + 1) / 2).permute(0, 2, 3, 4, 1), atol=1e-6)
    assert SpaceToDepthAutoencoder.from_dict(ae.to_dict()).scale == 0.5


def test_autoencoder_rejects_bad_input():
    ae = SpaceToDepthAutoencoder(4)
    with pytest.raises(ValueError, match="HINT"):
        ae.encode(torch.rand(1, 4, 2, 32, 32))
    with pytest.raises(ValueError, match="multiples"):
        ae.encode(torch.rand(1, 3, 2, 30, 32))
    with pytest.raises(ValueError, match="in_channels must be 48"):
        ae.decode(torch.rand(1, 4, 2, 8, 8))
    with pytest.raises(ValueError, match="factor"):
        SpaceToDepthAutoencoder(0)
    with pytest.raises(ValueError, match="multiple"):
        ae.get_latent_size([8, 30, 32])


# ---------------------------------------------------------------------------------------------- shipped model


@needs_model
def test_shipped_checkpoint_loads_with_matching_hash_and_size_limit():
    manifest = json.loads((MODEL_DIR / MANIFEST_NAME).read_text())
    wpath = MODEL_DIR / manifest["weights"]
    assert wpath.stat().st_size <= 20 * 1024 * 1024 and wpath.stat().st_size == manifest["bytes"]
    model, ae, config = load_synthetic_model()
    assert not model.training
    assert model.config.in_channels == ae.out_channels == 3 * ae.factor**2
    T, H, W = config["sampling"]["num_frames"], config["sampling"]["height"], config["sampling"]["width"]
    assert ae.get_latent_size([T, H, W]) == [T, H // ae.factor, W // ae.factor]
    assert model.config.caption_channels == 384  # the pipeline's MiniLM text encoder
    assert config["step"] > 0 and config["train_config"]["encoder"] == "minilm"
    # the package ships what running the model needs, and nothing of its training run
    assert sorted(p.name for p in MODEL_DIR.iterdir()) == sorted([manifest["weights"], "config.json", MANIFEST_NAME])
    # the trained model is not the random init: a forward pass differs from a fresh STDiT3's
    from chai.models.stdit3 import STDiT3

    torch.manual_seed(0)
    fresh = STDiT3(model.config).eval()
    x = torch.randn(1, ae.out_channels, 2, 32 // ae.factor, 32 // ae.factor)
    y = torch.randn(1, 1, model.config.model_max_length, 384)
    kw = dict(fps=torch.tensor([24.0]), height=torch.tensor([32.0]), width=torch.tensor([32.0]))
    with torch.no_grad():
        a = model(x, torch.tensor([500.0]), y, **kw)
        b = fresh(x, torch.tensor([500.0]), y, **kw)
    assert torch.isfinite(a).all() and not torch.allclose(a, b)


@needs_model
def test_tampered_weights_are_refused(tmp_path):
    d = tmp_path / "model"
    shutil.copytree(MODEL_DIR, d)
    manifest = json.loads((d / MANIFEST_NAME).read_text())
    w = d / manifest["weights"]
    data = bytearray(w.read_bytes())
    data[len(data) // 2] ^= 0x40
    w.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="sha256.*HINT"):
        load_synthetic_model(d)
    (d / MANIFEST_NAME).unlink()
    with pytest.raises(FileNotFoundError, match="HINT"):
        load_synthetic_model(d)
