"""How far the shipped embedder can take a learned check of a hit: a logistic probe on MiniLM pair features.

The agreement rule (``chai.cache.agreement``) is still wrong on about one accepted pair in nine on the test split,
and one in five on fresh pairs (docs/matching.md). What is left (two senses of one kind, what a prompt depicts, an
act without an object, WordNet hyponyms the labelling policy calls other things) reads the two prompts together.
This study asks whether the one model that installs offline, MiniLM, can do that when trained to: a logistic
regression on the pair's features, used as a veto on the rule's accepted pairs.

Features of a pair (the rule's accepted entity pair, or the request subject and cached entity of highest cosine
where the rule refuses): for the two entity vectors q, c and the two whole-prompt vectors R, C, ``q*c``,
``|q-c|``, ``R*C``, ``|R-C|``, and the cosines ``q.c`` and ``R.C`` (4 x 384 + 2 numbers). Labels: the pairs'.

Honest splits, as in ``csrc_bench.bench_matching``: the probe's veto is scored on

- **dev**, five-fold cross-validated by pair group (each pair scored by a probe that never saw its group);
- the **studied** fresh pairs, by a probe trained on dev alone;
- **test** and the **held-out** fresh pairs, by a probe trained on dev and the studied pairs (never tuned on).

Every threshold of the sweep is printed for every set; nothing is chosen on test or held-out.

Usage: ``python -m research.matching_probe [--l2 1e-4 1e-3 1e-2] [--out research/results/matching_probe.md]`` (about three
minutes on 2 cores: extraction and embedding of every pair). Not shipped: ``docs/matching.md`` says why.
"""

from __future__ import annotations

import argparse
import time
import zlib
from pathlib import Path

import numpy as np
import torch

#: L2 weights the probe chooses among, by dev cross-validated log-loss.
L2_CHOICES = (1e-4, 1e-3, 1e-2)
#: Veto thresholds swept: an accepted pair is kept when the probe's probability of "right" reaches it.
THRESHOLDS = (0.0, 0.2, 0.3, 0.4, 0.5, 0.6)


def pair_features(rows: list[dict], embedder) -> np.ndarray:
    """One feature row per decision row of :func:`csrc_bench.bench_matching.prompt_decisions` (module docs)."""
    texts = sorted({t for r in rows for t in (r["request"], r["cached"], *r["subjects"], *r["cached_entities"])})
    vec = dict(zip(texts, embedder.embed(texts)))
    out = []
    for r in rows:
        if r["rules"]:
            q, c = r["rule_pair"][:2]
        elif r["subjects"] and r["cached_entities"]:  # the nearest pair the rule looked at
            q, c = max(((a, b) for a in r["subjects"] for b in r["cached_entities"]),
                       key=lambda ab: float(vec[ab[0]] @ vec[ab[1]]))
        else:  # no subject or no entity: the whole prompts stand in
            q, c = r["request"], r["cached"]
        vq, vc, vr, vk = vec[q], vec[c], vec[r["request"]], vec[r["cached"]]
        out.append(np.concatenate([vq * vc, np.abs(vq - vc), vr * vk, np.abs(vr - vk),
                                   [float(vq @ vc), float(vr @ vk)]]))
    return np.asarray(out, dtype=np.float64)


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 0.1, iters: int = 200) -> tuple[np.ndarray, float]:
    """L2-regularised logistic regression (L-BFGS, float64): weights and bias. ``l2`` weighs ``0.5 * |w|^2``
    against the mean log-loss."""
    if x.ndim != 2 or len(x) != len(y) or len(x) == 0:
        raise ValueError(f"x must be (n, d) with n = len(y) > 0, got {x.shape} and {len(y)} labels")
    if not l2 >= 0:
        raise ValueError(f"l2 must be >= 0, got {l2}")
    xt, yt = torch.as_tensor(x, dtype=torch.float64), torch.as_tensor(y, dtype=torch.float64)
    w = torch.zeros(x.shape[1], dtype=torch.float64, requires_grad=True)
    b = torch.zeros((), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=iters, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(xt @ w + b, yt) + 0.5 * l2 * (w @ w)
        loss.backward()
        return loss

    opt.step(closure)
    return w.detach().numpy(), float(b.detach())


def predict(model: tuple[np.ndarray, float], x: np.ndarray) -> np.ndarray:
    """The probe's probability that each pair is right to reuse."""
    w, b = model
    return 1.0 / (1.0 + np.exp(-(x @ w + b)))


def log_loss(prob: np.ndarray, y: np.ndarray) -> float:
    """Mean binary log-loss of probabilities ``prob`` against labels ``y``."""
    p = np.clip(prob, 1e-7, 1 - 1e-7)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def cross_validated(x: np.ndarray, y: np.ndarray, groups: list[str], l2: float, folds: int = 5) -> np.ndarray:
    """Each row's probability from a probe trained on the other folds (folds by a stable hash of the group)."""
    fold = np.array([zlib.crc32(g.encode()) % folds for g in groups])
    p = np.zeros(len(y))
    for k in range(folds):
        test = fold == k
        if test.any() and (~test).any():
            p[test] = predict(fit_logistic(x[~test], y[~test], l2), x[test])
    return p


def veto_table(rows: list[dict], prob: np.ndarray, thresholds=THRESHOLDS) -> list[dict]:
    """Per threshold: the rule's accepted pairs that the probe keeps, how many are wrong, precision and recall."""
    label = np.array([r["label"] == 1 for r in rows])
    rule = np.array([bool(r["rules"]) for r in rows])
    out = []
    for t in thresholds:
        keep = rule & (prob >= t)
        right = int((keep & label).sum())
        out.append({"threshold": t, "accepted": int(keep.sum()), "wrong": int((keep & ~label).sum()),
                    "precision": right / max(1, int(keep.sum())), "recall": right / max(1, int(label.sum()))})
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m research.matching_probe", description=__doc__.split("\n\n")[0])
    ap.add_argument("--l2", type=float, nargs="+", default=list(L2_CHOICES),
                    help="L2 weights to choose from by dev cross-validated log-loss (default: %(default)s)")
    ap.add_argument("--out", type=Path, default=None, help="write the tables to this Markdown file")
    args = ap.parse_args(argv)

    from chai.cache.embedder import MiniLMEmbedder
    from chai.cache.entities import SpacyExtractor
    from csrc_bench.bench_matching import FRESH_FILE, PROMPTS_FILE, load_pairs, prompt_decisions, split_of

    t0 = time.perf_counter()
    emb, ex = MiniLMEmbedder(), SpacyExtractor()
    labelled = prompt_decisions(load_pairs(PROMPTS_FILE), ex, emb)
    fresh = prompt_decisions(load_pairs(FRESH_FILE), ex, emb)
    sets = {"dev": [r for r in labelled if split_of(r) == "dev"], "test": [r for r in labelled if split_of(r) == "test"],
            "studied": [r for r in fresh if r["set"] == "studied"],
            "held-out": [r for r in fresh if r["set"] == "held-out"]}
    feats = {k: pair_features(v, emb) for k, v in sets.items()}
    labels = {k: np.array([r["label"] for r in v], dtype=np.float64) for k, v in sets.items()}
    groups = [r["group"] for r in sets["dev"]]
    cv = {l2: cross_validated(feats["dev"], labels["dev"], groups, l2) for l2 in args.l2}
    l2 = min(cv, key=lambda k: log_loss(cv[k], labels["dev"]))
    probs = {"dev": cv[l2]}
    probs["studied"] = predict(fit_logistic(feats["dev"], labels["dev"], l2), feats["studied"])
    both = fit_logistic(np.concatenate([feats["dev"], feats["studied"]]),
                        np.concatenate([labels["dev"], labels["studied"]]), l2)
    probs["test"], probs["held-out"] = predict(both, feats["test"]), predict(both, feats["held-out"])

    lines = ["# A learned veto on MiniLM pair features (`python -m research.matching_probe`)", "",
             "L2 weight chosen by dev cross-validated log-loss: " + ", ".join(
                 f"{k:g}: {log_loss(v, labels['dev']):.3f}" for k, v in cv.items()) + f" -> **{l2:g}**.", "",
             "Threshold 0.0 is the agreement rule alone. dev: five-fold cross-validated by group; studied: probe "
             "trained on dev; test and held-out: probe trained on dev + studied, never tuned on.", "",
             "| set | threshold | accepted | wrong | precision | recall |", "|---|---|---|---|---|---|"]
    for name in ("dev", "studied", "test", "held-out"):
        for row in veto_table(sets[name], probs[name]):
            lines.append(f"| {name} | {row['threshold']:.1f} | {row['accepted']} | {row['wrong']} | "
                         f"{100 * row['precision']:.1f}% | {100 * row['recall']:.1f}% |")
    lines += ["", f"{sum(len(v) for v in sets.values())} pairs, {time.perf_counter() - t0:.0f} s."]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out is not None:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
