"""Conversion-path statistics on hand-made journeys whose answers can be counted by eye."""

from __future__ import annotations

import pytest

from attribution.paths import (
    LONGEST_LENGTH,
    NO_TOUCH,
    PathJourney,
    assists,
    lag_bucket,
    path_lengths,
    position_counts,
    time_lags,
    top_paths,
    touch_positions,
)

DAY = 86_400.0
JOURNEYS = [
    PathJourney(("Email", "Paid Search"), 2.5 * DAY, 100.0, {"Email": 0.5, "Paid Search": 0.5}),
    PathJourney(("Email", "Paid Search"), 0.2 * DAY, 300.0, {"Email": 0.5, "Paid Search": 0.5}),
    PathJourney(("Paid Search",), 0.0, 50.0, {"Paid Search": 1.0}),
    PathJourney(("Direct", "Email", "Direct"), 40 * DAY, 0.0, {"Direct": 2 / 3, "Email": 1 / 3}),
    PathJourney((), None, 20.0, {}),
]


def test_top_paths_rank_by_conversions_then_value() -> None:
    rows = top_paths(JOURNEYS, limit=3)

    assert [(r["path"], r["conversions"], r["value"]) for r in rows] == [
        ("Email > Paid Search", 2, 400.0),
        ("Paid Search", 1, 50.0),
        (NO_TOUCH, 1, 20.0),
    ]
    assert rows[0]["share"] == pytest.approx(40.0)
    assert rows[0]["value_per_conversion"] == pytest.approx(200.0)


def test_path_lengths_and_the_open_last_bucket() -> None:
    long = PathJourney(("Direct",) * (LONGEST_LENGTH + 3), DAY, 1.0)

    rows = path_lengths([*JOURNEYS, long])

    assert [(r["touches"], r["conversions"]) for r in rows] == [
        ("0", 1), ("1", 1), ("2", 2), ("3", 1), (f"{LONGEST_LENGTH}+", 1)]


@pytest.mark.parametrize(("seconds", "bucket"), [
    (0, "0"), (DAY - 1, "0"), (DAY, "1"), (3.9 * DAY, "3"), (4 * DAY, "4–6"), (13.5 * DAY, "7–13"),
    (29 * DAY, "14–29"), (89.9 * DAY, "60–89"), (400 * DAY, "90+"), (-5, "0"),
])
def test_lag_buckets(seconds: float, bucket: str) -> None:
    assert lag_bucket(seconds) == bucket


def test_time_lags_leave_out_conversions_without_a_touch() -> None:
    rows = time_lags(JOURNEYS)

    assert [(r["days"], r["conversions"]) for r in rows] == [("0", 2), ("2", 1), ("30–59", 1)]
    assert sum(float(str(r["share"])) for r in rows) == pytest.approx(100.0)


def test_assisted_and_last_touch_follow_the_ga_definitions() -> None:
    rows = {r["group"]: r for r in assists(JOURNEYS)}

    assert (rows["Paid Search"]["last_touch"], rows["Paid Search"]["assisted"]) == (3, 0)
    assert (rows["Email"]["last_touch"], rows["Email"]["assisted"]) == (0, 3)
    # Direct closes its own path and appears before: one last touch and one assist.
    assert (rows["Direct"]["last_touch"], rows["Direct"]["assisted"]) == (1, 1)
    assert rows["Email"]["assist_ratio"] is None and rows["Direct"]["assist_ratio"] == 1.0
    assert rows["Paid Search"]["credited"] == pytest.approx(2.0)
    assert rows["Paid Search"]["credited_value"] == pytest.approx(250.0)
    assert rows["Email"]["first_touch"] == 2


@pytest.mark.parametrize(("touches", "split"), [
    (0, (0, 0, 0)), (1, (0, 0, 1)), (2, (1, 0, 1)), (3, (1, 1, 1)), (4, (1, 2, 1)),
    (5, (1, 2, 2)), (6, (2, 2, 2)), (7, (2, 3, 2)), (10, (3, 4, 3)),
])
def test_position_counts_split_a_path_as_ga4_does(touches: int,
                                                   split: tuple[int, int, int]) -> None:
    # GA4: early the first 25 % (rounded, none on one touch), mid 50 % (none below three
    # touches), late the last 25 % rounded up (a single touch is late).
    assert position_counts(touches) == split


def test_touch_positions_sum_each_groups_credit_by_where_its_touches_sit() -> None:
    journeys = [
        # Six touches, linear credit: early = A, B; mid = C, A; late = D, B.
        PathJourney(("A", "B", "C", "A", "D", "B"), 60.0, 600.0, {},
                    (1 / 6,) * 6),
        # One touch: late.
        PathJourney(("A",), 5.0, 100.0, {}, (1.0,)),
    ]
    rows = {row["group"]: row for row in touch_positions(journeys)}
    assert rows["A"] == pytest.approx({
        "group": "A", "early": 1 / 6, "mid": 1 / 6, "late": 1.0,
        "early_value": 100.0, "mid_value": 100.0, "late_value": 100.0})
    assert (rows["B"]["early"], rows["B"]["mid"], rows["B"]["late"]) == pytest.approx(
        (1 / 6, 0, 1 / 6))
    assert (rows["C"]["mid"], rows["D"]["late"]) == pytest.approx((1 / 6, 1 / 6))
    # The three positions of every group add up to the credited conversions (2).
    assert sum(r["early"] + r["mid"] + r["late"] for r in rows.values()) == pytest.approx(2)
    assert next(row["group"] for row in touch_positions(journeys)) == "A"
