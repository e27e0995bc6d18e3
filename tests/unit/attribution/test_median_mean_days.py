"""The reports' array median and mean of conversion times give exactly (to the bit) what
attribution.metrics' list functions give, on the awkward cases: even and odd counts, one
value, none, sub-second values and sums whose naive float total rounds differently."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from attribution import metrics
from tracker.reports.queries import median_mean_days

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
