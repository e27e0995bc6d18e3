"""Merging the rows' (conversion, seconds) pairs: each conversion once per group and once
over all groups, with its largest seconds, against a plain dictionary reference, including
empty rows, one row, and a conversion in several rows of one group and of several groups."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tracker.rollups.levels import encode_times, merge_times, merge_times_by_group

# A few conversions, so that rows share them; seconds as the rows store them.
ROW = st.dictionaries(st.integers(-3, 3).map(lambda n: n * (2**61)), st.floats(0, 1e7),
                      max_size=5)


def reference(rows: list[dict[int, float]]) -> list[float]:
    largest: dict[int, float] = {}
    for row in rows:
        for conversion, seconds in row.items():
            largest[conversion] = max(seconds, largest.get(conversion, seconds))
    return sorted(largest.values())


@given(st.lists(st.tuples(st.integers(0, 3), ROW), max_size=12))
def test_each_conversion_once_with_its_largest_seconds(rows: list[tuple[int, dict[int, float]]]
                                                       ) -> None:
    blobs = [encode_times(times) for _group, times in rows]
    assert sorted(merge_times(blobs).tolist()) == reference([times for _g, times in rows])
    groups = np.array([group for group, _times in rows], dtype=np.int64)
    merged, overall = merge_times_by_group(blobs, groups, 4)
    assert sorted(overall.tolist()) == reference([times for _g, times in rows])
    assert len(merged) == 4
    for group in range(4):
        assert sorted(merged[group].tolist()) == reference(
            [times for g, times in rows if g == group]), group


A, B, C = 1 << 40, -(1 << 50), 7  # conversion hashes


@pytest.mark.parametrize("rows", [
    # No conversion in two rows: every group's seconds are its rows' as they are.
    [(0, {A: 5.0}), (1, {B: 6.0}), (0, {C: 7.0})],
    # Conversions in rows of two groups only (a lead touched two channels): each group
    # keeps its own, the total counts them once.
    [(1, {A: 5.0, B: 6.0}), (0, {A: 5.0}), (2, {B: 6.0, C: 1.0}), (0, {C: 1.0})],
    # A conversion in two rows of one group (a campaign under two of its sources), with
    # different seconds: the group and the total keep the largest.
    [(0, {A: 5.0}), (1, {A: 5.0, B: 2.0}), (0, {A: 9.0, C: 3.0}), (1, {C: 3.0})],
])
def test_the_layouts_of_repeated_conversions(rows: list[tuple[int, dict[int, float]]]) -> None:
    blobs = [encode_times(times) for _group, times in rows]
    groups = np.array([group for group, _times in rows], dtype=np.int64)
    merged, overall = merge_times_by_group(blobs, groups, 3)
    assert sorted(overall.tolist()) == reference([times for _g, times in rows])
    for group in range(3):
        assert sorted(merged[group].tolist()) == reference(
            [times for g, times in rows if g == group]), group
