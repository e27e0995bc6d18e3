"""The reports' array median and mean of conversion times give exactly (to the bit) what
attribution.metrics' list functions give, on the awkward cases: even and odd counts, one
value, none, sub-second values and sums whose naive float total rounds differently; and the
array sum behind the mean is ``math.fsum`` to the bit on any floats."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from attribution import metrics
from tracker.reports.durations import correctly_rounded_sum, median_mean_days

SECONDS = st.floats(min_value=0, max_value=3 * 365 * 86_400, allow_nan=False)


@given(st.lists(SECONDS, max_size=60))
def test_equal_to_the_metrics_functions(values: list[float]) -> None:
    assert median_mean_days(np.array(values, dtype=np.float64)) == (
        metrics.median_days(values), metrics.mean_days(values))


@pytest.mark.parametrize("values", [
    [], [86_400.0], [86_400.0, 2 * 86_400.0, 10 * 86_400.0], [1.0, 3.0],
    # 0.1 + 0.2 + 0.3 in days: a naive (pairwise) float sum and fsum disagree in the last bit.
    [0.1 * 86_400, 0.2 * 86_400, 0.3 * 86_400] * 7 + [1e-9],
])
def test_hand_picked_cases(values: list[float]) -> None:
    assert median_mean_days(np.array(values, dtype=np.float64)) == (
        metrics.median_days(values), metrics.mean_days(values))


@given(st.lists(st.floats(allow_nan=False, allow_infinity=False), max_size=40))
def test_the_array_sum_is_fsum_on_any_floats(values: list[float]) -> None:
    """Any magnitudes and signs, subnormals, zeros of either sign, sums that overflow."""
    try:
        expected = math.fsum(values)
    except OverflowError:
        expected = None
    try:
        found = correctly_rounded_sum(np.array(values, dtype=np.float64))
    except OverflowError:
        found = None
    assert found == expected
    if expected is not None and found is not None:
        assert math.copysign(1, found) == math.copysign(1, expected)


@pytest.mark.parametrize("values", [
    # Far apart exponents: an exact sum needs every bit of both.
    [1e308, 1.0, -1e308], [2.0**-1074, 2.0**-1074, 1.0], [1e-300, 1e300],
    # Halfway cases: the exact sum lies exactly between two doubles (rounds to even).
    [1.0, 2.0**-53], [1.0 + 2.0**-52, 2.0**-53], [2.0**53, 1.0, 2.0**-60],
    [0.1] * 10_000, [-0.0], [-0.0, 0.0], [5e-324, -5e-324],
])
def test_the_array_sum_on_hand_picked_cases(values: list[float]) -> None:
    found = correctly_rounded_sum(np.array(values, dtype=np.float64))
    assert found == math.fsum(values)
    assert math.copysign(1, found) == math.copysign(1, math.fsum(values))


def test_the_array_sum_of_a_quarter_million_days() -> None:
    """What a report at 10M sessions sums, against fsum of the same list."""
    days = np.random.default_rng(3).exponential(12.5, 250_000)
    assert correctly_rounded_sum(days) == math.fsum(days.tolist())
