"""Has the synthetic STDiT3 learned its world? ``python -m research.eval competence``.

The quality benchmark can only judge CHAI on a model that draws what its prompts ask for. This measures that
first: held-out one-object prompts (captions that are not in the model's training data, nor in the data of the
run it was warm-started from), each sampled with a fixed seed at the full step count (30) and at the plain
short count (8), no cache, and read back by :mod:`research.eval.analyzer`. The accuracy of an attribute is the
fraction of prompts whose sample the analyzer reads with the prompt's value (for the object's attributes: of the
object matched to the prompt's object, so a missing object counts as wrong). A ``generator`` row reads the
generator's own clips of the same prompts: the analyzer's ceiling on this workload.

The target is an accuracy of at least :data:`TARGET` for each of :data:`TARGET_ATTRIBUTES` on the 30-step
samples; the remaining analyzer attributes (background colour, object count) are reported beside them.

Outputs: a JSON report (schema ``chai.competence/1``, keys :data:`REPORT_KEYS`) and the marked section of
docs/quality.md (between ``<!-- chai-competence:begin -->`` and ``<!-- chai-competence:end -->``).
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = [
    "REPORT_KEYS",
    "TARGET",
    "TARGET_ATTRIBUTES",
    "CompetenceConfig",
    "held_out_specs",
    "run_competence",
    "seen_specs",
    "training_captions",
]

#: The attributes the competence target is about, and the accuracy each must reach on 30-step samples.
TARGET_ATTRIBUTES: tuple[str, ...] = ("colour", "shape", "size", "motion", "background_kind")
TARGET = 0.8
REPORT_KEYS = ("schema", "config", "model", "rows", "n_by_value", "accuracy_by_value", "target", "prompts", "summary")
DOC_BEGIN, DOC_END = "<!-- chai-competence:begin -->", "<!-- chai-competence:end -->"


@dataclass(frozen=True)
class CompetenceConfig:
    """prompts: held-out one-object prompts; seed: of the prompt stream and of the sampling noise;
    steps: the step counts sampled (the first is the one the target is judged on); cfg_scale: None = the
    benchmark's guidance (:data:`research.eval.quality.DEFAULT_CFG`); seen: draw the prompts from the model's
    own training captions instead (:func:`seen_specs`), to tell memorisation from composition (the target is
    judged on held-out prompts only)."""

    prompts: int = 48
    seed: int = 0
    steps: tuple[int, ...] = (30, 8)
    cfg_scale: float | None = None
    seen: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.prompts, bool) or not isinstance(self.prompts, int) or self.prompts < 1:
            raise ValueError(f"CompetenceConfig.prompts={self.prompts!r} must be a positive int. HINT: 48.")
        steps = tuple(self.steps)
        if not steps or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in steps):
            raise ValueError(f"CompetenceConfig.steps={self.steps!r} must be positive ints. HINT: (30, 8).")
        object.__setattr__(self, "steps", steps)


def training_captions(model_config: dict[str, Any]) -> set[str]:
    """Every caption the model behind ``model_config`` (an exported ``config.json``) was trained on: its run's
    clip stream, plus the stream of every run in its warm-start chain (each record's ``from_warm_start`` names
    the run before it)."""
    configs = [model_config.get("train_config")]
    warm = model_config.get("warm_start")
    while warm:
        if warm.get("from_train_config") is None:
            raise ValueError(
                f"the model was warm-started from {warm.get('from')!r} but its config.json does not record that "
                "run's training config, so held-out prompts cannot be chosen. HINT: re-export it with "
                "research.eval.train."
            )
        configs.append(warm["from_train_config"])
        warm = warm.get("from_warm_start")
    return {spec.caption for tc in configs if tc for spec in _training_stream(tc)}


def _training_stream(tc: dict[str, Any]):
    """The specs of a run's clip stream, in order, rebuilt from its training config (``TrainConfig.to_dict()``)."""
    from research.eval import synthetic as syn

    for i in range(int(tc["num_clips"])):
        yield syn.sample_spec(
            syn._clip_rng(int(tc["data_seed"]), i),
            p_two=float(tc["p_two"]),
            frames=int(tc["frames"]),
            size=int(tc["size"]),
            placement=str(tc.get("placement", "random")),  # runs before placement existed: random
        )


def seen_specs(n: int, seed: int, train_config: dict[str, Any]) -> list:
    """``n`` distinct one-object specs from the clip stream of ``train_config`` (captions the model was trained
    on), shapes and motions cycled as in :func:`held_out_specs`; within each shape and motion the stream's specs
    are shuffled by ``default_rng([seed, 0x5E])`` (deterministic)."""
    from research.eval import synthetic as syn

    groups: dict[tuple[str, str], list] = {}
    captions: set[str] = set()
    for spec in _training_stream(train_config):
        if len(spec.objects) == 1 and spec.caption not in captions:
            captions.add(spec.caption)
            groups.setdefault((spec.objects[0].shape, spec.objects[0].motion), []).append(spec)
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, 0x5E])
    for key in sorted(groups):
        rng.shuffle(groups[key])
    out = []
    for i in range(n):
        key = (syn.SHAPES[i % len(syn.SHAPES)], syn.MOTIONS[(i // len(syn.SHAPES)) % len(syn.MOTIONS)])
        k = i // (len(syn.SHAPES) * len(syn.MOTIONS))
        if k >= len(groups.get(key, [])):
            raise ValueError(
                f"the training stream holds only {len(groups.get(key, []))} one-object captions with shape "
                f"{key[0]} and motion {key[1]}; {n} seen prompts need {k + 1}. HINT: ask for fewer --prompts."
            )
        out.append(groups[key][k])
    return out


def held_out_specs(
    n: int, seed: int, *, exclude: set[str], frames: int = 8, size: int = 32, placement: str = "random"
) -> list:
    """``n`` one-object specs whose captions are not in ``exclude`` and differ from each other; spec ``i`` is
    drawn from ``default_rng([seed, 0xC0, i, attempt])`` (deterministic). Shapes and motions cycle through the
    vocabulary (spec ``i`` has shape ``i mod 6`` and motion ``(i // 6) mod 6``) so that every value is
    measured; colours, sizes and backgrounds are drawn. ``placement``: the world the model was trained in
    (``research.eval.synthetic.PLACEMENTS``)."""
    from research.eval import synthetic as syn

    seen, out = set(exclude), []
    for i in range(n):
        shape, motion = syn.SHAPES[i % len(syn.SHAPES)], syn.MOTIONS[(i // len(syn.SHAPES)) % len(syn.MOTIONS)]
        for attempt in range(10_000):
            rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, 0xC0, i, attempt])
            spec = syn.sample_spec(rng, n_objects=1, frames=frames, size=size, placement=placement)
            o = spec.objects[0]
            if o.shape == shape and o.motion == motion and spec.caption not in seen:
                break
        else:  # pragma: no cover - 24k one-object captions, a few tens excluded per shape and motion
            raise RuntimeError(f"no held-out prompt with shape {shape} and motion {motion} in 10000 draws")
        seen.add(spec.caption)
        out.append(spec)
    return out


def _accuracy(rows: list[dict[str, float]]) -> dict[str, float]:
    from research.eval.analyzer import ATTRIBUTES

    return {a: float(np.mean([r[a] for r in rows])) for a in ATTRIBUTES}


def run_competence(
    ccfg: CompetenceConfig | None = None,
    *,
    model_dir: str | Path | None = None,
    report_path: str | Path | None = None,
    doc_path: str | Path | None = None,
    threads: int | None = 1,
    progress: bool = True,
) -> dict[str, Any]:
    """Sample the held-out prompts at each step count, score them and write the requested outputs; returns the
    report (keys :data:`REPORT_KEYS`)."""
    from chai.pipeline import CHAIPipeline, PipelineConfig
    from chai.sampling import RFlowSampler
    from chai.synthetic import MANIFEST_NAME, MODEL_DIR, load_synthetic_model
    from chai.text_encoder import MiniLMTextEncoder
    from research.eval import analyzer
    from research.eval import synthetic as syn
    from research.eval.quality import DEFAULT_CFG

    ccfg = ccfg or CompetenceConfig()
    if ccfg.seen and doc_path is not None:
        raise ValueError(
            "doc_path: the doc's competence section is the held-out table, and seen=True samples training prompts. "
            "HINT: write the seen run to a report only."
        )
    if threads is not None:
        torch.set_num_threads(int(threads))
    t_all = time.perf_counter()
    model, ae, mconfig = load_synthetic_model(model_dir)
    mdir = Path(model_dir) if model_dir is not None else MODEL_DIR
    manifest = json.loads((mdir / MANIFEST_NAME).read_text())
    s = mconfig.get("sampling", {})
    frames, size, fps = int(s.get("num_frames", 8)), int(s.get("height", 32)), int(s.get("fps", 24))
    cfg_scale = float(DEFAULT_CFG if ccfg.cfg_scale is None else ccfg.cfg_scale)
    if ccfg.seen:  # the last stage's stream only: no need to rebuild the whole chain's captions
        trained = None
        specs = seen_specs(ccfg.prompts, ccfg.seed, mconfig["train_config"])
    else:
        trained = training_captions(mconfig)
        placement = str(mconfig.get("train_config", {}).get("placement", "random"))
        specs = held_out_specs(
            ccfg.prompts, ccfg.seed, exclude=trained, frames=frames, size=size, placement=placement
        )
    seeds = [int(hashlib.sha256(f"{ccfg.seed}:{i}".encode()).hexdigest()[:8], 16) for i in range(len(specs))]
    enc = MiniLMTextEncoder(model_max_length=int(model.config.model_max_length))

    per_prompt: list[dict[str, Any]] = [
        {
            "caption": sp.caption,
            "seed": sd,
            "generator": analyzer.adherence(syn.render(sp, frames=frames, size=size).video, sp).scores,
        }
        for sp, sd in zip(specs, seeds, strict=True)
    ]
    wall: dict[str, float] = {}
    for steps in ccfg.steps:
        name = f"{steps}-step"
        pcfg = PipelineConfig(
            full_steps=steps,
            hit_steps=min(steps, 8),
            cache_steps=tuple(c for c in (2, 3, 4) if c <= min(steps, 8)) or (1,),
            cfg_scale=cfg_scale,
            fps=fps,
            use_timestep_transform=False,
        )
        sampler = RFlowSampler(steps, cfg_scale, False)
        t0 = time.perf_counter()
        with CHAIPipeline(model, enc, None, sampler=sampler, config=pcfg, vae=ae) as pipe:
            for i, (sp, sd) in enumerate(zip(specs, seeds, strict=True)):
                r = pipe.generate(sp.caption, seed=sd, use_cache=False, num_frames=frames, height=size, width=size)
                video = ae.decode_to_frames(r.latents)[0].numpy()
                per_prompt[i][name] = analyzer.adherence(video, sp).scores
                if progress:
                    print(f"\r{name} {i + 1}/{len(specs)}", end="", file=sys.stderr, flush=True)
        if progress:
            print(file=sys.stderr)
        wall[name] = (time.perf_counter() - t0) / len(specs)

    row_names = [f"{st}-step" for st in ccfg.steps] + ["generator"]
    rows = {n: _accuracy([p[n] for p in per_prompt]) for n in row_names}
    main = row_names[0]
    # accuracy per attribute value (e.g. shape = star) of the main row, and how many prompts hold each value
    by_value: dict[str, dict[str, float]] = {}
    n_by_value: dict[str, dict[str, int]] = {}
    for attr, getter in (
        ("shape", lambda sp: sp.objects[0].shape),
        ("motion", lambda sp: sp.objects[0].motion),
        ("size", lambda sp: sp.objects[0].size),
        ("colour", lambda sp: sp.objects[0].colour),
        ("background_kind", lambda sp: sp.background.kind),
    ):
        groups: dict[str, list[float]] = {}
        for sp, p in zip(specs, per_prompt, strict=True):
            groups.setdefault(getter(sp), []).append(p[main][attr])
        by_value[attr] = {v: float(np.mean(g)) for v, g in sorted(groups.items())}
        n_by_value[attr] = {v: len(g) for v, g in sorted(groups.items())}
    target = {a: {"accuracy": rows[main][a], "met": rows[main][a] >= TARGET} for a in TARGET_ATTRIBUTES}
    report = {
        "schema": "chai.competence/1",
        "config": {**asdict(ccfg), "cfg_scale_used": cfg_scale, "frames": frames, "size": size, "threads": threads},
        "model": {
            "dir": str(mdir),
            "sha256": manifest["sha256"],
            "step": int(mconfig.get("total_steps", mconfig.get("step", 0))),
            "held_out_from_captions": None if trained is None else len(trained),
            "prompt_set": "seen" if ccfg.seen else "held-out",
        },
        "rows": rows,
        "n_by_value": n_by_value,
        "accuracy_by_value": by_value,
        "target": {
            "threshold": TARGET,
            "row": main,
            "attributes": target,
            "met": None if ccfg.seen else all(t["met"] for t in target.values()),  # judged on held-out only
        },
        "prompts": per_prompt,
        "summary": {
            "prompts": len(specs),
            **{f"{n}_{a}": round(rows[n][a], 3) for n in row_names[:-1] for a in TARGET_ATTRIBUTES},
            "target_met": None if ccfg.seen else all(t["met"] for t in target.values()),
            "wall_s_per_prompt": {k: round(v, 3) for k, v in wall.items()},
            "total_s": round(time.perf_counter() - t_all, 1),
        },
    }
    if report_path is not None:
        Path(report_path).write_text(json.dumps(report, indent=1) + "\n")
    if doc_path is not None:
        write_doc_section(report, doc_path, report_path=report_path)
    return report


def write_doc_section(report: dict[str, Any], doc_path, *, report_path=None) -> None:
    """Replace (or append) the marked competence section of ``doc_path`` with the report's tables."""
    from research.eval.analyzer import ATTRIBUTES
    from research.eval.quality import replace_doc_section

    c, m = report["config"], report["model"]
    lines = [DOC_BEGIN, "", "### Competence (generated by `python -m research.eval competence --doc`)", ""]
    lines.append(
        f"Model step {m['step']} (sha256 `{m['sha256'][:12]}…`), {report['summary']['prompts']} held-out one-object "
        f"prompts (none among the {m['held_out_from_captions']:,} training captions), {c['frames']} frames of "
        f"{c['size']}x{c['size']}, cfg {c['cfg_scale_used']}, seed {c['seed']}. Accuracy = fraction of prompts whose "
        "sample the analyzer reads with the prompt's value; `generator` reads the generator's own clips."
    )
    lines += ["", "| row | " + " | ".join(ATTRIBUTES) + " |", "|---|" + "---|" * len(ATTRIBUTES)]
    for name, acc in report["rows"].items():
        lines.append(f"| {name} | " + " | ".join(f"{acc[a]:.2f}" for a in ATTRIBUTES) + " |")
    t = report["target"]
    lines += [
        "",
        f"Target (each of {', '.join(TARGET_ATTRIBUTES)} >= {t['threshold']} at {t['row']}): "
        + ", ".join(f"{a} {v['accuracy']:.2f} {'met' if v['met'] else 'NOT met'}" for a, v in t["attributes"].items())
        + f"; overall {'met' if t['met'] else 'NOT met'}.",
        "",
        f"By value ({t['row']}; prompts per value in brackets):",
        "",
    ]
    for attr, vals in report["accuracy_by_value"].items():
        n = report["n_by_value"][attr]
        lines.append(f"- {attr}: " + ", ".join(f"{v} {acc:.2f} ({n[v]})" for v, acc in vals.items()))
    lines.append("")
    if report_path is not None:
        lines += [f"Report: `{report_path}`.", ""]
    lines.append(DOC_END)
    replace_doc_section(doc_path, DOC_BEGIN, DOC_END, "\n".join(lines))
