"""research.eval.train: tiny rectified-flow runs, resume, export, warm start and the command line."""

from __future__ import annotations

import dataclasses
import itertools
import json

import numpy as np
import pytest
import torch

safetensors = pytest.importorskip("safetensors")

from chai.synthetic import load_synthetic_model
from research.eval.train import TrainConfig, export_model, rflow_loss, train


def _tiny_cfg(**kw) -> TrainConfig:
    """The 'tiny' preset on 16x16 clips (4 tokens per frame), word-hash captions: seconds on one core."""
    base = {
        "preset": "tiny",
        "model_overrides": {"in_channels": 48},
        "ae_factor": 4,
        "steps": 6,
        "batch_size": 3,
        "frames": 4,
        "size": 16,
        "num_clips": 12,
        "encoder": "hash",
        "warmup": 2,
        "cooldown": 0,  # a constant tail: interrupting via `steps` (below) must not change the schedule
        "ckpt_every": 3,
        "log_every": 1,
        "lr": 1e-3,
    }
    base.update(kw)
    return TrainConfig(**base)


# ---------------------------------------------------------------------------------------------- training


def test_rflow_loss_target_is_the_samplers_velocity():
    """A model that returns x0 - noise exactly (cheating with the inputs) has zero loss; the sign matters."""
    x0, noise = torch.randn(2, 48, 2, 4, 4), torch.randn(2, 48, 2, 4, 4)
    t = torch.tensor([0.3, 0.8])

    class Oracle(torch.nn.Module):
        def forward(self, x_t, timestep, y, **kw):
            tt = (timestep / 1000.0)[:, None, None, None, None]
            # x_t = (1 - t) x0 + t n  =>  x0 - n = (x_t - t n) / (1 - t) - n
            return (x_t - tt * noise) / (1 - tt) - noise

    loss = rflow_loss(Oracle(), x0, None, None, noise, t, fps=24, height=16, width=16)
    assert float(loss) < 1e-10

    class Wrong(Oracle):
        def forward(self, *a, **kw):
            return -super().forward(*a, **kw)

    assert float(rflow_loss(Wrong(), x0, None, None, noise, t, fps=24, height=16, width=16)) > 0.5


def test_train_checkpoints_and_resume_equals_uninterrupted(tmp_path):
    full = train(_tiny_cfg(), tmp_path / "full", threads=1, progress=False)
    assert full["step"] == 6 and full["stopped_by"] == "steps"
    half = train(_tiny_cfg(steps=3), tmp_path / "resumed", threads=1, progress=False)
    assert half["step"] == 3
    resumed = train(_tiny_cfg(steps=6), tmp_path / "resumed", threads=1, progress=False)
    assert resumed["step"] == 6
    a = torch.load(tmp_path / "full" / "checkpoint.pt", weights_only=False)
    b = torch.load(tmp_path / "resumed" / "checkpoint.pt", weights_only=False)
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
        assert torch.equal(a["ema"][k], b["ema"][k]), k
    rows = [json.loads(x) for x in (tmp_path / "resumed" / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3, 4, 5, 6]
    assert {"step", "loss", "loss_avg", "lr", "elapsed_s"} <= set(rows[0])
    assert (tmp_path / "resumed" / "loss_curve.png").stat().st_size > 1000
    # a changed setting refuses to resume instead of silently mixing runs
    with pytest.raises(ValueError, match="HINT"):
        train(_tiny_cfg(steps=8, lr=2e-3), tmp_path / "resumed", threads=1, progress=False)


def test_training_reduces_the_loss(tmp_path):
    cfg = _tiny_cfg(steps=40, num_clips=2, batch_size=4, ckpt_every=40, log_every=1, warmup=1, lr=2e-3)
    train(cfg, tmp_path / "run", threads=1, progress=False)
    rows = [json.loads(x) for x in (tmp_path / "run" / "train_log.jsonl").read_text().splitlines()]
    first = np.mean([r["loss"] for r in rows[:8]])
    last = np.mean([r["loss"] for r in rows[-8:]])
    assert last < 0.8 * first, (first, last)


def test_export_load_and_hash_check(tmp_path):
    train(_tiny_cfg(steps=2, ckpt_every=2), tmp_path / "run", threads=1, progress=False)
    w = export_model(tmp_path / "run", tmp_path / "model")
    manifest = json.loads((tmp_path / "model" / "synthetic.json").read_text())
    assert manifest["weights"] == w.name and len(manifest["sha256"]) == 64
    model, ae, config = load_synthetic_model(tmp_path / "model")
    ck = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=False)
    for k, v in model.state_dict().items():
        assert torch.equal(v, ck["ema"][k]), k
    assert ae.out_channels == model.config.in_channels == 48 and config["step"] == 2
    data = bytearray(w.read_bytes())
    data[-5] ^= 0x01
    w.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="sha256"):
        load_synthetic_model(tmp_path / "model")


def test_train_config_validation():
    with pytest.raises(ValueError, match="HINT"):
        TrainConfig(t_sampling="cosine")
    with pytest.raises(ValueError, match="HINT"):
        TrainConfig(steps=0)
    with pytest.raises(ValueError, match="cooldown"):
        TrainConfig(cooldown=-1)
    with pytest.raises(ValueError, match="p_two"):
        TrainConfig(p_two=1.5)
    with pytest.raises(ValueError, match="in_channels"):
        train(TrainConfig(preset="tiny", encoder="hash", steps=1), "/tmp/never-created-chai-run", progress=False)


def test_lr_schedule_warmup_constant_cooldown():
    from research.eval.train import _lr_at

    cfg = TrainConfig(lr=1e-3, steps=100, warmup=10, cooldown=20)
    lrs = [_lr_at(cfg, s) for s in range(100)]
    assert lrs[0] == pytest.approx(1e-4) and lrs[9] == pytest.approx(1e-3)  # warm-up reaches lr
    assert all(v == pytest.approx(1e-3) for v in lrs[10:80])  # constant
    assert lrs[80] == pytest.approx(1e-3) and lrs[90] == pytest.approx(5e-4) and lrs[99] == pytest.approx(5e-5)
    assert all(a >= b for a, b in itertools.pairwise(lrs[80:]))  # decays monotonically to ~0
    assert all(
        _lr_at(TrainConfig(lr=1e-3, steps=100, warmup=0, cooldown=0), s) == 1e-3 for s in range(100)
    )  # no cooldown


def test_p_two_sets_the_two_object_fraction_of_the_training_data(tmp_path):
    from research.eval import synthetic

    def frac(p):
        rngs = (synthetic._clip_rng(0, i) for i in range(300))
        return sum(len(synthetic.sample_spec(r, p_two=p, frames=4, size=16).objects) == 2 for r in rngs) / 300

    assert frac(0.0) == 0.0 and 0.15 < frac(0.25) < 0.35 and frac(1.0) == 1.0
    # and train() draws its clips with it: the cached captions are the training data's captions
    for p, n_objects in ((0.0, 1), (1.0, 2)):
        out = tmp_path / f"p{p}"
        assert train(_tiny_cfg(steps=1, p_two=p), out, threads=1, progress=False)["step"] == 1
        (cache,) = out.glob("captions_*.pt")
        captions = torch.load(cache, weights_only=True)["captions"]
        assert captions and {len(synthetic.parse_caption(c).objects) for c in captions} == {n_objects}


def test_warm_start_copies_matching_tensors_only(tmp_path):
    train(_tiny_cfg(steps=2, ckpt_every=2), tmp_path / "a", threads=1, progress=False)
    ck = str(tmp_path / "a" / "checkpoint.pt")
    cfg = _tiny_cfg(steps=1, model_overrides={"in_channels": 48, "num_heads": 2}, init_from=ck)
    summary = train(cfg, tmp_path / "b", threads=1, progress=False)
    warm = summary["warm_start"]
    assert warm["from_step"] == 2 and warm["copied"] > 0
    # per-head tensors change shape with head_dim: q/k norms and the RoPE frequencies
    assert warm["skipped"] and all("norm" in k or "rope" in k for k in warm["skipped"])


def test_cli_train_maps_flags_and_keeps_config_defaults(tmp_path, capsys):
    from research.eval.__main__ import main

    out = tmp_path / "run"
    argv = ["train", "--out", str(out), "--preset", "tiny", "--model-override", "in_channels=48",
            "--ae-factor", "4",
            "--steps", "2", "--batch-size", "2", "--frames", "4", "--num-clips", "4", "--encoder", "hash",
            "--ckpt-every", "2", "--log-every", "1", "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    assert (out / "checkpoint.pt").exists()
    ckpt = torch.load(out / "checkpoint.pt", map_location="cpu", weights_only=False)
    saved = json.dumps(ckpt, default=str)
    # flags reached the config; an unset flag (--lr) kept TrainConfig's default
    assert '"steps": 2' in saved and '"batch_size": 2' in saved and f'"lr": {TrainConfig().lr}' in saved


def test_cli_export_needs_a_directory_and_every_option_has_help(capsys):
    """`--export` never defaults to a folder inside the (possibly installed) package."""
    import argparse

    from research.eval.__main__ import add_subcommands, main

    with pytest.raises(SystemExit) as exc:
        main(["train", "--export"])
    assert exc.value.code == 2 and "--export" in capsys.readouterr().err
    parser = argparse.ArgumentParser()
    add_subcommands(parser.add_subparsers(dest="eval_command"))
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    missing = []
    for name, p in sub.choices.items():
        missing += [f"{name}: description"] if not p.description else []
        missing += [f"{name} {a.dest}" for a in p._actions if not a.help and a.dest != "help"]
    assert not missing, missing


def test_warm_start_from_exported_weights_and_resume_keep_the_record(tmp_path):
    """Warm start from an export (.safetensors): the source's step and training config are recorded, kept by a
    resumed run (the checkpoint carries them) and written to the export, which adds the source's steps."""
    src = _tiny_cfg(steps=2, ckpt_every=2)
    train(src, tmp_path / "a", threads=1, progress=False)
    wpath = export_model(tmp_path / "a", tmp_path / "a_export")
    cfg = _tiny_cfg(steps=4, ckpt_every=2, init_from=str(wpath))
    first = train(dataclasses.replace(cfg, steps=2), tmp_path / "b", threads=1, progress=False)
    assert first["warm_start"]["from_step"] == 2
    assert first["warm_start"]["from_train_config"] == src.to_dict()
    # the copied tensors are the export's
    model = load_synthetic_model(tmp_path / "a_export")[0]
    ck = torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=False)
    assert ck["warm_start"]["copied"] == len(model.state_dict())
    # an export taken mid-way (before the run writes its summary) carries the record too: it is in the checkpoint
    (tmp_path / "b" / "summary.json").unlink()
    export_model(tmp_path / "b", tmp_path / "b_mid")
    mid = json.loads((tmp_path / "b_mid" / "config.json").read_text())
    assert mid["warm_start"]["from_train_config"] == src.to_dict() and mid["total_steps"] == 4
    resumed = train(cfg, tmp_path / "b", threads=1, progress=False)  # resumes at step 2, runs to 4
    assert resumed["step"] == 4 and resumed["warm_start"] == first["warm_start"]
    export_model(tmp_path / "b", tmp_path / "b_export")
    config = json.loads((tmp_path / "b_export" / "config.json").read_text())
    assert config["total_steps"] == 6 and config["warm_start"]["from_train_config"]["num_clips"] == src.num_clips
    # a third stage chains back: from the export or from the checkpoint, the same steps and the same chain
    for source in (tmp_path / "b_export" / wpath.name, tmp_path / "b" / "checkpoint.pt"):
        third = train(_tiny_cfg(steps=1, init_from=str(source)), tmp_path / f"c_{source.suffix[1:]}", progress=False)
        assert third["warm_start"]["from_step"] == 6, source
        assert third["warm_start"]["from_warm_start"]["from_train_config"] == src.to_dict(), source


def test_warm_start_from_a_missing_file_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.safetensors"):
        train(_tiny_cfg(steps=1, init_from=str(tmp_path / "nowhere.safetensors")), tmp_path / "r", progress=False)


def test_bf16_precision_trains_with_fp32_weights_and_loss(tmp_path):
    """bf16 autocasts the model only: the checkpoint's weights stay fp32, the loss falls like fp32's and its
    first step's loss is within bf16 rounding of fp32's."""
    base = _tiny_cfg(steps=40, num_clips=2, batch_size=4, ckpt_every=40, log_every=1, warmup=1, lr=2e-3)
    runs = {}
    for prec in ("fp32", "bf16"):
        train(dataclasses.replace(base, precision=prec), tmp_path / prec, threads=1, progress=False)
        runs[prec] = [json.loads(x)["loss"] for x in (tmp_path / prec / "train_log.jsonl").read_text().splitlines()]
        ck = torch.load(tmp_path / prec / "checkpoint.pt", weights_only=False)
        assert {v.dtype for v in ck["model"].values() if v.is_floating_point()} == {torch.float32}
    assert runs["bf16"][0] == pytest.approx(runs["fp32"][0], rel=0.05) and runs["bf16"][0] != runs["fp32"][0]
    # the same criterion as the fp32 run of test_training_reduces_the_loss
    assert np.mean(runs["bf16"][-8:]) < 0.8 * np.mean(runs["bf16"][:8])


def test_precision_and_device_are_checked():
    with pytest.raises(ValueError, match="precision='fp16'.*HINT"):
        TrainConfig(precision="fp16")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA device.*HINT"):
            train(_tiny_cfg(), "/nonexistent-run-dir", device="cuda", progress=False)


# ------------------------------------------------------------------------- the competent model's recipe knobs


def test_weighted_rflow_loss_is_the_weighted_mean_of_a_float64_reference():
    torch.manual_seed(1)
    x0, noise = torch.randn(2, 12, 3, 4, 5), torch.randn(2, 12, 3, 4, 5)
    t = torch.tensor([0.2, 0.9])
    pred = torch.randn(2, 12, 3, 4, 5)

    class Fixed(torch.nn.Module):
        def forward(self, *a, **kw):
            return pred

    weight = 1.0 + 3.0 * (torch.rand(2, 1, 3, 4, 5) > 0.5).float()
    got = rflow_loss(Fixed(), x0, None, None, noise, t, fps=24, height=8, width=10, weight=weight)
    err = (pred.double() - (x0.double() - noise.double())) ** 2
    w = weight.double().expand_as(err)
    assert abs(float(got) - float((err * w).sum() / w.sum())) < 1e-6
    # all-ones weights give the plain MSE; a weight on the wrong pixels gives another number
    ones = rflow_loss(Fixed(), x0, None, None, noise, t, fps=24, height=8, width=10, weight=torch.ones_like(weight))
    plain = rflow_loss(Fixed(), x0, None, None, noise, t, fps=24, height=8, width=10)
    assert abs(float(ones) - float(plain)) < 1e-6 and abs(float(got) - float(plain)) > 1e-3


def _bank_for(cfg, specs):
    from research.eval.train import CaptionBank

    caps = sorted({s.caption for s in specs})
    return CaptionBank(caps, torch.randn(len(caps), 8, 16).half(), torch.ones(len(caps), 8, dtype=torch.int8))


def test_batch_still_frames_object_weight_and_t_shift():
    """image_fraction: still steps hold batch x frames first frames (T = 1); object_weight marks exactly the
    latent pixels an object covers; t_shift moves the logit-normal draw up."""
    from chai.synthetic import SpaceToDepthAutoencoder
    from research.eval import synthetic as syn
    from research.eval.train import _batch

    cfg = _tiny_cfg(
        size=32, ae_factor=2, model_overrides={}, p_two=0.0, placement="centred", object_weight=4.0,
        image_fraction=0.5, t_shift=1.5, batch_size=4,
    )
    specs = [syn.sample_spec(np.random.default_rng([9, i]), p_two=0.0, frames=4, placement="centred") for i in range(8)]
    ae = SpaceToDepthAutoencoder(2)
    kinds, ts = set(), []
    for step in range(12):
        x0, y, mask, noise, t, _, weight = _batch(cfg, step, specs, _bank_for(cfg, specs), ae, 12)
        still = x0.shape[2] == 1
        kinds.add(still)
        assert x0.shape[0] == (cfg.batch_size * cfg.frames if still else cfg.batch_size) == y.shape[0] == t.shape[0]
        assert weight.shape == (x0.shape[0], 1, x0.shape[2], 16, 16)
        assert set(weight.unique().tolist()) == {1.0, 4.0}
        ts.append(t)
    assert kinds == {True, False}
    assert float(torch.cat(ts).mean()) > 0.7  # sigmoid(N(1.5, 1)) has mean about 0.77; unshifted about 0.5
    # the weight map is the object's mask pooled to the latent grid (checked against the rendered clip)
    g = torch.Generator().manual_seed(cfg.seed * 1_000_003 + 0)
    x0, *_, weight = _batch(cfg, 0, specs, _bank_for(cfg, specs), ae, 12)
    still = float(torch.rand((1,), generator=g)) < cfg.image_fraction
    idx = torch.randint(len(specs), (cfg.batch_size * (cfg.frames if still else 1),), generator=g).tolist()
    m = syn.render(specs[idx[0]], frames=4, size=32).masks[0][: x0.shape[2]]
    pooled = m.reshape(m.shape[0], 16, 2, 16, 2).any(axis=(2, 4))
    assert np.array_equal(weight[0, 0].numpy() == 4.0, pooled)


def test_recipe_knobs_are_checked():
    with pytest.raises(ValueError, match="p_two"):
        _tiny_cfg(placement="centred", p_two=0.25)
    with pytest.raises(ValueError, match="placement"):
        _tiny_cfg(placement="anywhere")
    with pytest.raises(ValueError, match="object_weight"):
        _tiny_cfg(object_weight=0.0)
    with pytest.raises(ValueError, match="image_fraction"):
        _tiny_cfg(image_fraction=1.0)
    with pytest.raises(ValueError, match="t_shift"):
        _tiny_cfg(t_shift=float("nan"))


def test_training_with_the_competent_recipe_runs_and_resumes(tmp_path):
    kw = dict(p_two=0.0, placement="centred", object_weight=4.0, image_fraction=0.5, t_shift=0.5)
    full = train(_tiny_cfg(**kw), tmp_path / "full", threads=1, progress=False)
    train(_tiny_cfg(steps=3, **kw), tmp_path / "resumed", threads=1, progress=False)
    train(_tiny_cfg(steps=6, **kw), tmp_path / "resumed", threads=1, progress=False)
    a = torch.load(tmp_path / "full" / "checkpoint.pt", weights_only=False)
    b = torch.load(tmp_path / "resumed" / "checkpoint.pt", weights_only=False)
    assert full["step"] == 6 and a["train_config"]["placement"] == "centred"
    for k in a["ema"]:
        assert torch.equal(a["ema"][k], b["ema"][k]), k
