"""Packing journeys into arrays and refusing inconsistent ones."""

from __future__ import annotations

import numpy as np
import pytest

from attribution import AttributionError, Journey, JourneyBatch, Touch


def test_from_journeys_packs_touches_and_milestones():
    rows = [
        Journey((Touch("A", 1.0, campaign="x"), Touch("B", 2.0)), value=10.0, lead_index=0,
                opportunity_index=1),
        Journey((Touch("B", 5.0),), converted=False, count=3.0),
    ]

    batch = JourneyBatch.from_journeys(rows)

    assert batch.offsets.tolist() == [0, 2, 3]
    assert batch.channels == ("A", "B")
    assert batch.channel.tolist() == [0, 1, 1]
    assert batch.conversions.tolist() == [1.0, 0.0]
    assert batch.nulls.tolist() == [0.0, 3.0]
    assert batch.lead_position.tolist() == [0, 0]
    assert batch.opportunity_position.tolist() == [1, -1]
    assert batch.conversion_time.tolist() == [2.0, 5.0]
    assert batch.groups["campaign"][1] == ("x", "")
    assert batch.journey_of_touch.tolist() == [0, 0, 1]
    assert batch.position.tolist() == [0, 1, 0]


def test_from_paths_reads_path_strings():
    batch = JourneyBatch.from_paths(["a>b>a", "c"], [2, 0], [1, 4], [20, 0], separator=">")

    assert batch.channels == ("a", "b", "c")
    assert batch.lengths.tolist() == [3, 1]
    assert batch.lead_position.tolist() == [2, 0]


def test_arrays_are_read_only():
    batch = JourneyBatch.from_paths(["a"], [1])

    with pytest.raises(ValueError, match="read-only"):
        batch.channel[0] = 3


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"channel": np.array([0, 5])}, "channel codes"),
        ({"conversions": np.array([-1.0])}, ">= 0"),
        ({"lead_position": np.array([2])}, "lead_position"),
        ({"value": np.array([1.0, 2.0])}, "value must have shape"),
        ({"offsets": np.array([1, 2])}, "offsets"),
    ],
)
def test_inconsistent_arrays_are_refused(change, message):
    fields = dict(
        offsets=np.array([0, 2]), channel=np.array([0, 1]), time=np.zeros(2),
        channels=("a", "b"), conversions=np.array([1.0]), nulls=np.zeros(1),
        value=np.zeros(1), conversion_time=np.zeros(1), lead_position=np.array([1]),
        opportunity_position=np.array([-1]), close_position=np.array([-1]),
    )
    fields.update(change)

    with pytest.raises(AttributionError, match=message):
        JourneyBatch(**fields)
