"""The skip-policy variants of research/miss_cache_policies.py do what their names say."""

import pytest
import torch

from chai.runtime.first_block import FirstBlockCache
from research.miss_cache_policies import policy_class, using


def _r(x):
    return torch.full((1, 2, 3), float(x))


def test_plain_is_the_shipped_cache():
    assert policy_class("plain") is FirstBlockCache


def test_forecast_extrapolates_the_rest_from_the_last_two_computed_calls():
    fb = policy_class("forecast:1")(threshold=0.5)
    assert not fb.reuse(_r(1.0))  # call 1: nothing to reuse
    fb.remember(_r(1.0), _r(10.0))
    assert not fb.reuse(_r(2.0))  # call 2: the probe moved 100 %
    fb.remember(_r(2.0), _r(12.0))
    assert fb.reuse(_r(2.1))  # call 3 reuses: one call after the last computed, which was one after the one before
    torch.testing.assert_close(fb.rest, _r(14.0))
    assert fb.reuse(_r(2.1))  # call 4: two calls on
    torch.testing.assert_close(fb.rest, _r(16.0))
    half = policy_class("forecast:0.5")(threshold=0.5)
    for r0, rest in ((1.0, 10.0), (2.0, 12.0)):
        assert not half.reuse(_r(r0))
        half.remember(_r(r0), _r(rest))
    assert half.reuse(_r(2.1)) and half.reuse(_r(2.1))
    torch.testing.assert_close(half.rest, _r(13.0))  # half the slope, capped at one interval


def test_last_k_calls_and_runs_of_reuse_are_capped():
    last = policy_class("last:3")(threshold=0.5)
    assert not last.reuse(_r(1.0))
    last.remember(_r(1.0), _r(1.0))
    got = [last.reuse(_r(1.0)) for _ in range(29)]  # calls 2..30: the probe never moves
    assert got == [True] * 26 + [False] * 3
    run = policy_class("run:2")(threshold=0.5)
    assert not run.reuse(_r(1.0))
    run.remember(_r(1.0), _r(1.0))
    assert [run.reuse(_r(1.0)) for _ in range(6)] == [True, True, False, True, True, False]


def test_unknown_variant_is_refused_and_using_restores_the_runtime():
    import chai.runtime.context as ctx

    with pytest.raises(ValueError, match="unknown variant"):
        policy_class("teacache:1")
    with using("run:2"):
        assert ctx.FirstBlockCache.__name__ == "Policy[run:2]"
    assert ctx.FirstBlockCache is FirstBlockCache
