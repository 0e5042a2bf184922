"""Entity matching: precision / recall of the agreement rules against the embedder-only rule, and a trace replay.

Run::

    python -m csrc_bench.bench_matching              # labelled pairs + trace replay; writes
                                                     # csrc_bench/results/matching_results.*
    python -m csrc_bench.bench_matching --no-write   # print only

1. **Labelled pairs** (``tests/data/matching_pairs.jsonl``, written by ``tests/data/make_matching_pairs.py``): each
   (request entity, cached entity) pair is embedded with the real MiniLM embedder. The *embedder-only* rule accepts
   a pair when its cosine reaches the threshold (0.72, the cache default); the *rules* accept it when the cosine
   reaches :data:`chai.cache.agreement.SEARCH_FLOOR` (the matcher fetches nothing below) and
   :func:`chai.cache.agreement.decide` accepts it. Precision and recall of both, and the acceptances per class.
   The labelled *prompt* pairs (``tests/data/matching_prompts.jsonl``, dev / test split by :func:`split_of`) and
   the *fresh* pairs (``tests/data/matching_fresh_pairs.jsonl``: batches written later in new domains, a
   "studied" set read after scoring and a "held-out" set only ever scored) go end to end through
   :func:`prompt_decisions`; ``--dev`` scores the dev split and the studied set only.
2. **Trace replay**: the built-in 240-prompt trace (``chai/data/trace_prompts.txt``) through the real spaCy
   extractor and MiniLM, a simulated LRU cache per budget (entry sizes from ``entry_nbytes_estimate`` for 240p, 68
   frames, int8, one (T, S) mask per entity: what ``chai trace`` stores), lookups exactly as the matcher does them
   (embedder-only: best cosine >= threshold; rules: among the candidates >= the search floor that ``decide``
   accepts, the highest rank, then the highest cosine, ties to the most recently used entry). A miss inserts the
   prompt's entities; a prompt with no entity is a miss that inserts nothing. Every hit pair is listed with its kind.
3. **Cost**: microseconds per ``decide`` call (first call of a pair, and memoised), and spaCy extraction of a
   100k-character prompt with and without the prompt cap.

pytest collects the model-free smoke tests at the end of this file; the labelled set with the real MiniLM is
scored by ``tests/chai/test_cache_agreement.py``.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
import zlib
from collections import Counter, OrderedDict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PAIRS_FILE = ROOT / "tests" / "data" / "matching_pairs.jsonl"
PROMPTS_FILE = ROOT / "tests" / "data" / "matching_prompts.jsonl"
SPLITS = ("dev", "test")
#: Fresh pairs written after the rule, in new domains, in batches: "studied" ones were looked at pair by pair
#: after scoring (tuning data, like dev), "held-out" ones only ever scored (like test). docs/matching.md.
FRESH_FILE = ROOT / "tests" / "data" / "matching_fresh_pairs.jsonl"
FRESH_SETS = ("studied", "held-out")
RESULTS_DIR = Path(__file__).resolve().parent / "results"
THRESHOLD = 0.72
BUDGETS = {"16MB": 16 * 10**6, "64MB": 64 * 10**6, "256MB": 256 * 10**6, "1GB": 10**9}  # decimal, as `chai trace`
LATENT = (1, 4, 20, 30, 53)  # 240p, 68 frames
MASK = (20, 15 * 27)  # (T, S) of the pipeline's token masks at 240p
# Direction policies compared: which attribute classes a request may not add to a cached entity.
POLICIES = {
    "all hard classes (default)": ("colour", "number", "material", "pattern", "age", "setting", "weather"),
    "colour, number, material, pattern": ("colour", "number", "material", "pattern"),
    "none (conflicts only)": (),
}


def load_pairs(path: Path = PAIRS_FILE) -> list[dict]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def cosines(pairs: list[dict], embedder) -> np.ndarray:
    """Cosine of each pair, all distinct strings embedded in one batch."""
    texts = sorted({p["request"] for p in pairs} | {p["cached"] for p in pairs})
    vecs = dict(zip(texts, embedder.embed(texts)))
    return np.array([float(vecs[p["request"]] @ vecs[p["cached"]]) for p in pairs])


def _prf(accept: np.ndarray, label: np.ndarray) -> dict:
    tp = int((accept & label).sum())
    fp = int((accept & ~label).sum())
    fn = int((~accept & label).sum())
    return {"tp": tp, "fp": fp, "fn": fn, "tn": int((~accept & ~label).sum()),
            "precision": tp / (tp + fp) if tp + fp else 1.0, "recall": tp / (tp + fn) if tp + fn else 1.0}


def evaluate_pairs(pairs: list[dict], cos: np.ndarray, threshold: float = THRESHOLD, unstated=None) -> dict:
    """Precision / recall of the embedder-only rule and of the agreement rules, per class and overall."""
    from chai.cache.agreement import SEARCH_FLOOR, UNSTATED_REFUSED, decide, explain

    unstated = UNSTATED_REFUSED if unstated is None else frozenset(unstated)
    label = np.array([p["label"] == 1 for p in pairs])
    emb = cos >= threshold
    rules = np.array([s >= SEARCH_FLOOR and decide(p["request"], p["cached"], float(s), threshold,
                                                   unstated=unstated) is not None
                      for p, s in zip(pairs, cos)])
    classes: dict[str, dict] = {}
    for i, p in enumerate(pairs):
        c = classes.setdefault(p["class"], {"label": p["label"], "pairs": 0, "embedder_accepts": 0, "rules_accept": 0})
        c["pairs"] += 1
        c["embedder_accepts"] += int(emb[i])
        c["rules_accept"] += int(rules[i])
    errors = []
    for i, p in enumerate(pairs):
        if rules[i] != label[i]:
            v = explain(p["request"], p["cached"], float(cos[i]), threshold, unstated=unstated)
            errors.append({**p, "cosine": round(float(cos[i]), 3), "rules": bool(rules[i]), "code": v.code,
                           "detail": v.detail})
    return {
        "pairs": len(pairs), "positives": int(label.sum()), "negatives": int((~label).sum()),
        "threshold": threshold, "search_floor": SEARCH_FLOOR,
        "embedder_only": _prf(emb, label), "rules": _prf(rules, label), "classes": classes, "rule_errors": errors,
        "embedder_false_hits": [{**p, "cosine": round(float(cos[i]), 3)} for i, p in enumerate(pairs)
                                if emb[i] and not label[i]],
    }


# --------------------------------------------------------------------------------------------------
# Labelled prompt pairs (end to end: extraction, subjects, embedding, decision)
# --------------------------------------------------------------------------------------------------

def split_of(pair: dict) -> str:
    """"dev" or "test", by a stable hash of the pair's group (its base subject), so pairs about one subject stay
    in one split. Rules and thresholds are tuned on dev only; test is scored, never studied."""
    return SPLITS[zlib.crc32(pair["group"].encode()) % 2]


def prompt_decisions(pairs: list[dict], extractor, embedder, threshold: float = THRESHOLD) -> list[dict]:
    """Per pair: what the cache would do if the cached prompt were the only entry.

    ``rules``: the request's main subjects against every entity of the cached prompt, candidates from the
    search floor on, accepted by :func:`chai.cache.agreement.decide` (best rank, then cosine) and not vetoed by
    the context check (:func:`chai.cache.agreement.context_conflict`: acts, scenes) or the word-sense check of the
    two prompts (:mod:`chai.cache.senses`), as the matcher does it. ``embedder``: the embedder-only rule as the
    cache ran it before (every request entity, cosine >= threshold), on the same extraction.
    """
    from chai.cache.agreement import SEARCH_FLOOR, context_conflict, decide
    from chai.cache.entities import acts_on, subject_count
    from chai.cache.senses import sense_reader_for

    senses = sense_reader_for(embedder)  # the word-sense veto, as the cache runs it with this embedder

    prompts = sorted({p["request"] for p in pairs} | {p["cached"] for p in pairs})
    ents = {p: extractor.extract(p) for p in prompts}
    texts = sorted({e for es in ents.values() for e in es})
    vec = dict(zip(texts, embedder.embed(texts))) if texts else {}
    out = []
    for p in pairs:
        req, cached = ents[p["request"]], list(ents[p["cached"]])
        subj = list(req)[: subject_count(req)]
        best, emb_best = None, None
        for q in list(req):
            for c in cached:
                sc = float(vec[q] @ vec[c])
                if sc >= threshold and (emb_best is None or sc > emb_best[0]):
                    emb_best = (sc, q, c)
                if q not in subj or sc < SEARCH_FLOOR:
                    continue
                d = decide(q, c, sc, threshold)
                if d is not None and context_conflict(q, [(e, vec[e]) for e in req], acts_on(req, q),
                                                      [(e, vec[e]) for e in cached], c, threshold):
                    continue
                if d is not None and senses is not None and senses.conflict(p["request"], q, p["cached"], c):
                    continue
                if d is not None and (best is None or (d.rank, sc) > (best[0], best[1])):
                    best = (d.rank, sc, q, c, d.reason)
        out.append({**p, "split": split_of(p), "rules": best is not None, "embedder": emb_best is not None,
                    "rule_pair": list(best[2:]) if best else None, "embedder_pair": list(emb_best[1:]) if emb_best
                    else None, "subjects": subj, "cached_entities": cached})
    return out


def score_prompts(rows: list[dict], key: str = "split", groups: tuple[str, ...] = SPLITS) -> dict:
    """Precision / recall of both rules per split (``key``: "split", or "set" for the fresh pairs), and per split
    and family."""
    res: dict = {}
    for split in groups:
        sel = [r for r in rows if r[key] == split]
        if not sel:
            continue
        label = np.array([r["label"] == 1 for r in sel])
        fams: dict = {}
        for fam in sorted({r["family"] for r in sel}):
            idx = np.array([r["family"] == fam for r in sel])
            fams[fam] = {"pairs": int(idx.sum()), "positives": int(label[idx].sum()),
                         "rules": _prf(np.array([r["rules"] for r in sel])[idx], label[idx]),
                         "embedder": _prf(np.array([r["embedder"] for r in sel])[idx], label[idx])}
        res[split] = {"pairs": len(sel), "positives": int(label.sum()),
                      "domains": len({r["domain"] for r in sel}),
                      "rules": _prf(np.array([r["rules"] for r in sel]), label),
                      "embedder": _prf(np.array([r["embedder"] for r in sel]), label), "families": fams}
    return res


def dev_errors(rows: list[dict], key: str = "split", studied: str = "dev") -> list[dict]:
    """The dev split's wrong decisions of the rules (for tuning; the test split's are never listed); with
    ``key="set", studied="studied"``, the studied fresh pairs' (the held-out ones are never listed)."""
    return [r for r in rows if r[key] == studied and r["rules"] != (r["label"] == 1)]


# --------------------------------------------------------------------------------------------------
# Trace replay (simulated LRU cache)
# --------------------------------------------------------------------------------------------------

def _entry_nbytes():
    try:
        from chai.cache import entry_nbytes_estimate
    except ImportError:  # older layouts kept it in the cache module only
        from chai.cache.latent_cache import entry_nbytes_estimate
    return entry_nbytes_estimate


def replay(prompts: list[str], ents: list[list[str]], vec: dict, budget: int, rule: str,
           threshold: float = THRESHOLD, unstated=None) -> dict:
    """One pass of the trace through a simulated LRU cache; ``rule`` is "embedder" or "rules" (the agreement rule
    and its context check; the word-sense veto, which embeds whole prompts, is left to ``chai trace``)."""
    from chai.cache.agreement import SEARCH_FLOOR, UNSTATED_REFUSED, context_conflict, decide
    from chai.cache.entities import acts_on, subject_count

    unstated = UNSTATED_REFUSED if unstated is None else frozenset(unstated)
    nbytes_of = _entry_nbytes()
    entries: OrderedDict[int, tuple[list[str], int]] = OrderedDict()  # LRU order: last = most recently used
    used = hits = evictions = 0
    pairs: Counter = Counter()
    kinds: Counter = Counter()
    for i, (prompt, keys) in enumerate(zip(prompts, ents)):
        best = None  # (rank, score, recency, entry, q, c, kind)
        subjects = list(keys)[: subject_count(keys)] if rule == "rules" else list(keys)
        for recency, (eid, (cached_keys, _)) in enumerate(entries.items()):
            for q in subjects:
                for c in cached_keys:
                    s = float(vec[q] @ vec[c])
                    if rule == "embedder":
                        cand = (0, s, recency, eid, q, c, "embedding") if s >= threshold else None
                    else:
                        d = decide(q, c, s, threshold, unstated=unstated) if s >= SEARCH_FLOOR else None
                        if d is not None and context_conflict(q, [(e, vec[e]) for e in keys], acts_on(keys, q),
                                                              [(e, vec[e]) for e in cached_keys], c, threshold):
                            d = None
                        cand = (d.rank, s, recency, eid, q, c, d.kind) if d is not None else None
                    if cand is None:
                        continue
                    if best is None or (cand[0], cand[1]) > (best[0], best[1] + 1e-6) or (
                            cand[0] == best[0] and abs(cand[1] - best[1]) <= 1e-6 and cand[2] > best[2]):
                        best = cand
        if best is not None:
            hits += 1
            entries.move_to_end(best[3])
            pairs[(best[4], best[5], best[6], round(best[1], 3))] += 1
            kinds[best[6]] += 1
            continue
        if not keys:
            continue
        n = nbytes_of(LATENT, 3, n_entities=len(keys), prompt_chars=len(prompt.encode()),
                      entity_chars=max(1, round(sum(len(k) for k in keys) / len(keys))), mask_shape=MASK)
        if n > budget:
            continue
        while used + n > budget:
            _, (_, freed) = entries.popitem(last=False)
            used -= freed
            evictions += 1
        entries[i] = (keys, n)
        used += n
    return {
        "rule": rule, "budget_bytes": budget, "requests": len(prompts), "hits": hits,
        "hit_rate": hits / len(prompts), "evictions": evictions, "entries_end": len(entries), "kinds": dict(kinds),
        "hit_pairs": [{"request": q, "cached": c, "kind": k, "cosine": s, "count": cnt}
                      for (q, c, k, s), cnt in sorted(pairs.items(), key=lambda x: (-x[1], x[0]))],
    }


def trace_replay(embedder, extractor=None, threshold: float = THRESHOLD) -> dict:
    from chai.cache.entities import SpacyExtractor
    from chai.cli import read_prompts

    extractor = extractor or SpacyExtractor()
    prompts = read_prompts(None, builtin="trace_prompts.txt")
    ents = [extractor.extract(p) for p in prompts]
    texts = sorted({e for es in ents for e in es})
    vec = dict(zip(texts, embedder.embed(texts)))
    runs = [replay(prompts, ents, vec, b, rule, threshold) for rule in ("embedder", "rules") for b in BUDGETS.values()]
    variants = {name: replay(prompts, ents, vec, BUDGETS["64MB"], "rules", threshold, unstated=u)["hits"]
                for name, u in POLICIES.items()}
    return {"prompts": len(prompts), "extractor": extractor.name, "entities": len(texts), "runs": runs,
            "policy_hits_64MB": variants}


# --------------------------------------------------------------------------------------------------
# Cost
# --------------------------------------------------------------------------------------------------

def cost(pairs: list[dict]) -> dict:
    from chai.cache import agreement
    from chai.cache.entities import SpacyExtractor

    agreement.analyse.cache_clear()
    agreement._relation.cache_clear()
    t0 = time.perf_counter()
    for p in pairs:
        agreement.decide(p["request"], p["cached"], 0.8, THRESHOLD)
    cold = (time.perf_counter() - t0) / len(pairs)
    t0 = time.perf_counter()
    for _ in range(5):
        for p in pairs:
            agreement.decide(p["request"], p["cached"], 0.8, THRESHOLD)
    warm = (time.perf_counter() - t0) / (5 * len(pairs))
    ex = SpacyExtractor()
    long_prompt = ("a red fox runs through a snowy forest near a frozen lake while the wind blows, " * 1300)[:100_000]
    t0 = time.perf_counter()
    ex.extract(long_prompt)
    capped = time.perf_counter() - t0
    t0 = time.perf_counter()
    with ex._lock:
        ex._nlp(long_prompt)
    uncapped = time.perf_counter() - t0
    return {"decide_us_first_call": cold * 1e6, "decide_us_memoised": warm * 1e6,
            "extract_100k_chars_capped_s": capped, "spacy_100k_chars_uncapped_s": uncapped}


# --------------------------------------------------------------------------------------------------

def _prompts_md(sc: dict, rows: list[dict] | None = None, fresh: bool = False) -> list[str]:
    out = ["| split | pairs | domains | rule | accepted | true hits | false hits | missed | precision | recall |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for split, m in sc.items():
        for rule in ("rules", "embedder"):
            x = m[rule]
            name = "agreement rules" if rule == "rules" else f"embedder only (cosine >= {THRESHOLD})"
            bold = "**" if rule == "rules" else ""
            out.append(f"| {split} | {m['pairs']} ({m['positives']} right) | {m['domains']} | {name} | "
                       f"{x['tp'] + x['fp']} | {x['tp']} | {x['fp']} | {x['fn']} | {bold}{100 * x['precision']:.1f}%"
                       f"{bold} | {bold}{100 * x['recall']:.1f}%{bold} |")
    out += ["", "Per family: pairs (right ones); for each rule, accepted pairs, how many of them wrong, and the recall "
            "of the right ones:", "",
            "| family | " + " | ".join(f"{s} pairs | {s} rules | {s} embedder" for s in sc) + " |",
            "|---|" + "---|---|---|" * len(sc)]
    fams = sorted({f for m in sc.values() for f in m["families"]})
    for fam in fams:
        cells = []
        for m in sc.values():
            f = m["families"].get(fam)
            if f is None:
                cells.append("- | - | -")
                continue
            def cell(x, pos=f["positives"]):
                rec = f", recall {100 * x['recall']:.0f}%" if pos else ""
                return f"{x['tp'] + x['fp']} ({x['fp']} wrong){rec}"

            cells.append(f"{f['pairs']} ({f['positives']}) | {cell(f['rules'])} | {cell(f['embedder'])}")
        out.append(f"| {fam} | " + " | ".join(cells) + " |")
    if rows is not None:
        errors = dev_errors(rows, "set", "studied") if fresh else dev_errors(rows)
        out += ["", ("Studied fresh pairs the rules get wrong (the held-out ones are not listed: they are never "
                     "studied):") if fresh else
                "Dev-split pairs the rules get wrong (the test split's are not listed: it is never studied):", ""]
        for r in errors:
            got = r["rule_pair"]
            out.append(f"- [{r['family']}] `{r['request']}` <- `{r['cached']}` (label {r['label']}): rules "
                       + (f"accept `{got[0]}` -> `{got[1]}` ({got[2]})" if got else
                          f"refuse (subjects {r['subjects']}, cached {r['cached_entities']})"))
    return out


def _md(res: dict) -> str:
    lab, tr = res["labelled"], res["trace"]
    e, r = lab["embedder_only"], lab["rules"]
    out = [
        "# Entity matching: agreement rules vs embedder only",
        "",
        (f"Generated by `python -m csrc_bench.bench_matching` ({res['created']}, {res['machine']}). "
         f"Embedder MiniLM (all-MiniLM-L6-v2), threshold {lab['threshold']}, search floor {lab['search_floor']}."),
        "",
        (f"## Labelled prompt pairs (`tests/data/matching_prompts.jsonl`, end to end: extraction, main subjects, "
         f"embedding, decision; {res['extractor']})"),
        "",
        *_prompts_md(res["prompts"], res.get("prompt_rows")),
        "",
        ("## Fresh pairs (`tests/data/matching_fresh_pairs.jsonl`: written after the rule, in new domains; "
         "\"studied\" ones were read pair by pair after scoring, \"held-out\" ones never)"),
        "",
        *_prompts_md(res["fresh"], res.get("fresh_rows"), fresh=True),
        "",
        f"## Older entity pairs ({lab['pairs']}: {lab['positives']} right, {lab['negatives']} wrong; written beside "
        "the previous rule)",
        "",
        "| rule | accepted | true hits | false hits | missed | precision | recall |",
        "|---|---|---|---|---|---|---|",
        (f"| embedder only (cosine >= {lab['threshold']}) | {e['tp'] + e['fp']} | {e['tp']} | {e['fp']} | {e['fn']} | "
         f"{100 * e['precision']:.1f}% | {100 * e['recall']:.1f}% |"),
        (f"| agreement rules | {r['tp'] + r['fp']} | {r['tp']} | {r['fp']} | {r['fn']} | "
         f"**{100 * r['precision']:.1f}%** | **{100 * r['recall']:.1f}%** |"),
        "",
        "| class | label | pairs | embedder accepts | rules accept |",
        "|---|---|---|---|---|",
    ]
    for name, c in lab["classes"].items():
        out.append(f"| {name} | {'right' if c['label'] else 'wrong'} | {c['pairs']} | {c['embedder_accepts']} | "
                   f"{c['rules_accept']} |")
    out += ["", "Pairs the rules get wrong:", ""]
    for x in lab["rule_errors"]:
        out.append(f"- `{x['request']}` -> `{x['cached']}` ({x['class']}, label {x['label']}, cosine {x['cosine']}): "
                   f"rules {'accept' if x['rules'] else 'refuse'} [{x['code']}] {x['detail']}")
    out += ["", f"## Trace replay ({tr['prompts']} prompts, {tr['entities']} distinct entities, {tr['extractor']})", "",
            "| budget | rule | hits | hit rate | evictions | exact | same head | synonym |",
            "|---|---|---|---|---|---|---|---|"]
    names = {v: k for k, v in BUDGETS.items()}
    for run in tr["runs"]:
        k = run["kinds"]
        out.append(f"| {names[run['budget_bytes']]} | {run['rule']} | {run['hits']} | {100 * run['hit_rate']:.1f}% | "
                   f"{run['evictions']} | {k.get('exact', '')} | {k.get('same_head', '')} | {k.get('synonym', '')} |")
    for rule in ("rules", "embedder"):
        run = next(x for x in tr["runs"] if x["rule"] == rule and x["budget_bytes"] == BUDGETS["64MB"])
        out += ["", f"Hit pairs at 64MB, {rule} (count, request -> cached, kind, cosine):", ""]
        out.append("; ".join(f"{h['count']}x `{h['request']}` -> `{h['cached']}` ({h['kind']}, {h['cosine']})"
                             for h in run["hit_pairs"]))
    out += ["", "Direction policies (which classes a request may state that the cached entity does not):", "",
            "| refused when only the request states them | labelled precision | labelled recall | trace hits at 64MB |",
            "|---|---|---|---|"]
    for name, m in res["policies"].items():
        out.append(f"| {name} | {100 * m['precision']:.1f}% | {100 * m['recall']:.1f}% | "
                   f"{tr['policy_hits_64MB'][name]} / {tr['prompts']} |")
    c = res["cost"]
    out += ["", "## Cost", "",
            (f"decide: {c['decide_us_first_call']:.1f} us per pair on the first call (phrase parses), "
             f"{c['decide_us_memoised']:.2f} us memoised. Extraction of a 100,000-character prompt: "
             f"{c['extract_100k_chars_capped_s'] * 1e3:.0f} ms with the {res['max_prompt_chars']}-character cap, "
             f"spaCy alone on the whole text {c['spacy_100k_chars_uncapped_s']:.1f} s."), ""]
    return "\n".join(out)


def run(write: bool = True) -> dict:
    from chai.cache.embedder import MiniLMEmbedder
    from chai.cache.entities import MAX_PROMPT_CHARS, SpacyExtractor

    emb = MiniLMEmbedder()
    ex = SpacyExtractor()
    pairs = load_pairs()
    cos = cosines(pairs, emb)
    rows = prompt_decisions(load_pairs(PROMPTS_FILE), ex, emb)
    fresh = prompt_decisions(load_pairs(FRESH_FILE), ex, emb)
    res = {
        "extractor": ex.name,
        "prompts": score_prompts(rows),
        "prompt_rows": rows,
        "fresh": score_prompts(fresh, "set", FRESH_SETS),
        "fresh_rows": fresh,
        "created": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "max_prompt_chars": MAX_PROMPT_CHARS,
        "labelled": evaluate_pairs(pairs, cos),
        "policies": {name: {k: v for k, v in evaluate_pairs(pairs, cos, unstated=u)["rules"].items()}
                     for name, u in POLICIES.items()},
        "trace": trace_replay(emb),
        "cost": cost(pairs),
    }
    md = _md(res)
    print(md)
    if write:
        RESULTS_DIR.mkdir(exist_ok=True)
        (RESULTS_DIR / "matching_results.json").write_text(json.dumps(res, indent=1, ensure_ascii=False) + "\n")
        (RESULTS_DIR / "matching_results.md").write_text(md)
    return res


def dev(argv=None) -> dict:
    """Score the dev split and the studied fresh pairs only and list their errors (the tuning loop; nothing is
    written)."""
    from chai.cache.embedder import MiniLMEmbedder
    from chai.cache.entities import SpacyExtractor

    ex, emb = SpacyExtractor(), MiniLMEmbedder()
    rows = [r for r in prompt_decisions(load_pairs(PROMPTS_FILE), ex, emb) if r["split"] == "dev"]
    fresh = [r for r in prompt_decisions(load_pairs(FRESH_FILE), ex, emb) if r["set"] == "studied"]
    sc = score_prompts(rows)
    print("\n".join(_prompts_md(sc, rows) + ["", "Fresh pairs, studied set:", ""]
                    + _prompts_md(score_prompts(fresh, "set", FRESH_SETS[:1]), fresh, fresh=True)))
    return sc


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-write", action="store_true",
                    help="print only; do not write csrc_bench/results/matching_results.*")
    ap.add_argument("--dev", action="store_true",
                    help="score the dev split of the labelled prompts and the studied fresh pairs only (tuning)")
    args = ap.parse_args(argv)
    if args.dev:
        dev()
        return
    run(write=not args.no_write)


if __name__ == "__main__":
    main()


# --------------------------------------------------------------------------------------------------
# Quick smoke tests (model-free: hashing embedder, built-in extractor); the real numbers come from run().
# --------------------------------------------------------------------------------------------------

def test_replay_smoke():
    from chai.cache import BuiltinExtractor, HashingEmbedder

    prompts = ["a red vintage car on a dusty track", "a car at a gas pump", "a pink chair in a hall",
               "a purple chair in a hall", "a 🚗 on a bridge", "a 🍕 on a bridge"]
    ex, emb = BuiltinExtractor(), HashingEmbedder(256)
    ents = [ex.extract(p) for p in prompts]
    texts = sorted({e for es in ents for e in es})
    vec = dict(zip(texts, emb.embed(texts)))
    base = replay(prompts, ents, vec, BUDGETS["64MB"], "embedder")
    rules = replay(prompts, ents, vec, BUDGETS["64MB"], "rules")
    got = {(h["request"], h["cached"]) for h in rules["hit_pairs"]}
    assert ("car", "red vintage car") in got  # less specific: below the threshold, a hit by rule
    assert ("car", "red vintage car") not in {(h["request"], h["cached"]) for h in base["hit_pairs"]}
    assert all(h["kind"] in ("exact", "same_head", "synonym") for h in rules["hit_pairs"])
    assert not any(h["request"] == "purple chair" for h in rules["hit_pairs"])  # conflicting colour


def test_evaluate_pairs_smoke():
    pairs = [{"request": "car", "cached": "red car", "label": 1, "class": "less_specific"},
             {"request": "pink chair", "cached": "purple chair", "label": 0, "class": "attribute_conflict"},
             {"request": "🚗", "cached": "🍕", "label": 0, "class": "unknown_symbols"}]
    res = evaluate_pairs(pairs, np.array([0.6, 0.8, 1.0]))
    assert res["embedder_only"] == {"tp": 0, "fp": 2, "fn": 1, "tn": 0, "precision": 0.0, "recall": 0.0}
    assert res["rules"]["tp"] == 1 and res["rules"]["fp"] == 0 and res["rules"]["recall"] == 1.0
    assert res["rule_errors"] == [] and len(res["embedder_false_hits"]) == 2
