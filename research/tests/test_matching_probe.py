"""The learned-veto study's pieces: the probe fits what it is given, and the veto table counts right."""

from __future__ import annotations

import numpy as np
import pytest

from research.matching_probe import cross_validated, fit_logistic, log_loss, pair_features, predict, veto_table


def _data(n=400, d=12, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d))
    w = rng.normal(size=d)
    y = (x @ w + 0.3 > 0).astype(np.float64)
    return x, y


def test_probe_learns_a_linear_rule_and_beats_chance_on_unseen_rows():
    x, y = _data()
    model = fit_logistic(x[:300], y[:300], l2=1e-3)
    acc = float(((predict(model, x[300:]) >= 0.5) == (y[300:] == 1)).mean())
    assert acc > 0.9, acc
    assert log_loss(predict(model, x[300:]), y[300:]) < log_loss(np.full(100, 0.5), y[300:])
    # a strong L2 weight pulls every probability toward the base rate
    flat = predict(fit_logistic(x[:300], y[:300], l2=1e3), x[300:])
    assert np.ptp(flat) < 0.1


def test_cross_validation_scores_every_row_with_a_probe_that_did_not_see_its_group():
    x, y = _data(n=200)
    groups = [f"g{i % 37}" for i in range(200)]
    p = cross_validated(x, y, groups, 1e-3)
    assert p.shape == (200,) and np.all((p > 0) & (p < 1))
    assert float(((p >= 0.5) == (y == 1)).mean()) > 0.8


def test_veto_table_counts_kept_pairs_against_labels():
    rows = [{"rules": True, "label": 1}, {"rules": True, "label": 0}, {"rules": False, "label": 1},
            {"rules": True, "label": 1}]
    prob = np.array([0.9, 0.1, 0.99, 0.3])
    t0, t5 = veto_table(rows, prob, thresholds=(0.0, 0.5))
    assert (t0["accepted"], t0["wrong"], round(t0["recall"], 3)) == (3, 1, 0.667)
    assert (t5["accepted"], t5["wrong"], t5["precision"], t5["recall"]) == (1, 0, 1.0, pytest.approx(1 / 3))


def test_pair_features_use_the_rule_pair_or_the_nearest_subject_pair():
    class Axes:
        def embed(self, texts):
            out = np.zeros((len(texts), 3))
            for i, t in enumerate(texts):
                out[i, hash(t) % 3] = 1.0
            return out

    rows = [{"rules": True, "rule_pair": ["cat", "cat", "same"], "request": "a cat", "cached": "a cat sleeping",
             "subjects": ["cat"], "cached_entities": ["cat"]},
            {"rules": False, "request": "a dog", "cached": "a wolf", "subjects": [], "cached_entities": ["wolf"]}]
    f = pair_features(rows, Axes())
    assert f.shape == (2, 4 * 3 + 2)
    assert f[0, -2] == 1.0  # cat . cat
    assert not np.isnan(f).any()


@pytest.mark.parametrize("x,y,l2,match", [
    (np.zeros((3, 2)), np.zeros(2), 0.1, "n = len"),
    (np.zeros(3), np.zeros(3), 0.1, "n = len"),
    (np.ones((3, 2)), np.zeros(3), -1.0, "l2"),
])
def test_probe_rejects_bad_input(x, y, l2, match):
    with pytest.raises(ValueError, match=match):
        fit_logistic(x, y, l2)
