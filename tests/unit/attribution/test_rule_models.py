"""Hand-worked splits for every rule-based model (DESIGN section 6)."""

from __future__ import annotations

import numpy as np
import pytest

from attribution import AttributionError, Journey, Touch, UnknownModelError, create_model

DAY = 86_400.0

# Paid Search (day 0) → Email (day 3, lead created) → Organic (day 5, opportunity created)
# → Direct (day 6, last touch before close); the deal closes on day 7 for 1,000.
FOUR_TOUCHES = Journey(
    touches=(
        Touch("Paid Search", 0 * DAY),
        Touch("Email", 3 * DAY),
        Touch("Organic Search", 5 * DAY),
        Touch("Direct", 6 * DAY),
    ),
    value=1000.0,
    conversion_time=7 * DAY,
    lead_index=1,
    opportunity_index=2,
    close_index=3,
)


@pytest.mark.parametrize(
    ("name", "params", "expected"),
    [
        ("first_touch", {}, [1, 0, 0, 0]),
        ("last_touch", {}, [0, 0, 0, 1]),
        # Direct is skipped: the last non-direct touch is Organic Search.
        ("last_non_direct", {}, [0, 0, 1, 0]),
        ("linear", {}, [0.25, 0.25, 0.25, 0.25]),
        # Ages 7, 4, 2, 1 days; weights 2^(-age/7) = .5, .6730, .8203, .9057 (sum 2.8990).
        ("time_decay", {}, [0.1725, 0.2321, 0.2830, 0.3124]),
        # 40 first, 40 lead (Email), the 20 middle over Organic and Direct.
        ("position_based", {}, [0.4, 0.4, 0.1, 0.1]),
        # 30 first, 30 lead, 30 opportunity (Organic), 10 middle (Direct only).
        ("w_shaped", {}, [0.3, 0.3, 0.3, 0.1]),
        # Four distinct milestone touches and no middle: the 10 is spread 22.5:22.5:22.5:22.5.
        ("full_path", {}, [0.25, 0.25, 0.25, 0.25]),
        # 20 first, 60 last, 20 over the two middle touches.
        ("j_shaped", {}, [0.2, 0.1, 0.1, 0.6]),
        ("inverse_j", {}, [0.6, 0.1, 0.1, 0.2]),
        # Custom weights 1:2:3:4 on first/lead/opportunity/close, none for the middle.
        ("custom", {"first": 1, "lead": 2, "opportunity": 3, "close": 4}, [0.1, 0.2, 0.3, 0.4]),
    ],
)
def test_four_touch_journey(name, params, expected):
    credits = create_model(name, **params).attribute(FOUR_TOUCHES)

    np.testing.assert_allclose(credits.credit, expected, atol=5e-5)
    np.testing.assert_allclose(credits.value, np.array(expected) * 1000.0, atol=5e-2)


def test_full_path_with_a_middle_touch():
    # Close is the 5th touch, so the 4th (Referral) is the only middle touch and gets the 10%.
    journey = Journey(
        tuple(Touch(c, float(i)) for i, c in enumerate(["A", "B", "C", "Referral", "D"])),
        lead_index=1, opportunity_index=2, close_index=4,
    )

    credits = create_model("full_path").attribute(journey)

    np.testing.assert_allclose(credits.credit, [0.225, 0.225, 0.225, 0.1, 0.225])


def test_missing_opportunity_share_goes_to_present_milestones():
    # W-shaped before any opportunity: the missing 30 splits 15/15 onto first and lead,
    # and the 10 middle is shared by the two remaining touches.
    journey = Journey(tuple(Touch(c, float(i)) for i, c in enumerate("ABCD")), lead_index=1)

    credits = create_model("w_shaped").attribute(journey)

    np.testing.assert_allclose(credits.credit, [0.45, 0.45, 0.05, 0.05])


def test_milestones_on_the_same_touch_add_up():
    # The lead was created in the first session: first (40) + lead (40) land on touch 1.
    journey = Journey(tuple(Touch(c, float(i)) for i, c in enumerate("ABC")), lead_index=0)

    credits = create_model("position_based").attribute(journey)

    np.testing.assert_allclose(credits.credit, [0.8, 0.1, 0.1])


def test_position_based_two_touches_is_fifty_fifty():
    journey = Journey((Touch("A", 0.0), Touch("B", 1.0)))

    credits = create_model("position_based").attribute(journey)

    np.testing.assert_allclose(credits.credit, [0.5, 0.5])


def test_position_based_weights_are_configurable():
    journey = Journey(tuple(Touch(c, float(i)) for i, c in enumerate("ABC")))

    credits = create_model("position_based", first=0.5, lead=0.3, middle=0.2).attribute(journey)

    np.testing.assert_allclose(credits.credit, [0.5, 0.2, 0.3])


def test_last_non_direct_credits_direct_only_when_all_direct():
    journey = Journey((Touch("Direct", 0.0), Touch("Direct", 1.0)))

    credits = create_model("last_non_direct").attribute(journey)

    np.testing.assert_allclose(credits.credit, [0.0, 1.0])


def test_linear_per_distinct_channel():
    # Email appears twice: per touch 1/3 each; per distinct channel Email's half is split.
    journey = Journey((Touch("Email", 0.0), Touch("Direct", 1.0), Touch("Email", 2.0)))

    per_touch = create_model("linear").attribute(journey)
    per_channel = create_model("linear", per_distinct_channel=True).attribute(journey)

    np.testing.assert_allclose(per_touch.credit, [1 / 3, 1 / 3, 1 / 3])
    np.testing.assert_allclose(per_channel.credit, [0.25, 0.5, 0.25])


def test_time_decay_half_life_parameter():
    # With a 1-day half-life a touch one day older gets half the weight: 1/3 and 2/3.
    journey = Journey((Touch("A", 0.0), Touch("B", DAY)), conversion_time=DAY)

    credits = create_model("time_decay", half_life_days=1).attribute(journey)

    np.testing.assert_allclose(credits.credit, [1 / 3, 2 / 3])


def test_time_decay_of_very_old_journeys_does_not_underflow():
    journey = Journey((Touch("A", 0.0), Touch("B", DAY)), conversion_time=DAY * 40_000)

    credits = create_model("time_decay", half_life_days=1).attribute(journey)

    np.testing.assert_allclose(credits.credit, [1 / 3, 2 / 3])


def test_non_converting_and_empty_journeys_get_nothing():
    rows = [Journey((Touch("A", 0.0),), converted=False), Journey((), value=50.0)]

    credits = create_model("linear").attribute(rows)

    assert credits.credit.tolist() == [0.0]
    assert credits.batch.attributable.tolist() == [False, False]


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("time_decay", {"half_life_days": 0}),
        ("position_based", {"first": -1}),
        ("custom", {"first": 0, "lead": 0, "opportunity": 0, "close": 0, "middle": 0}),
        ("linear", {"unknown": 1}),
    ],
)
def test_bad_parameters_are_refused(name, params):
    with pytest.raises(AttributionError):
        create_model(name, **params)


def test_unknown_model_names_the_known_ones():
    with pytest.raises(UnknownModelError, match="linear"):
        create_model("magic")


def test_credits_sum_by_group_key():
    journey = Journey(
        (Touch("Paid Search", 0.0, campaign="spring"), Touch("Paid Search", 1.0, campaign="brand")),
        value=90.0,
    )

    by_campaign = create_model("linear").attribute(journey).by_group("campaign")

    assert by_campaign == {"spring": (0.5, 45.0), "brand": (0.5, 45.0)}


@pytest.mark.parametrize("name", ["position_based", "w_shaped", "first_touch", "time_decay"])
def test_a_batch_of_only_touchless_journeys_gets_no_credit(name):
    credits = create_model(name).attribute([Journey((), value=10.0), Journey((), value=5.0)])

    assert credits.credit.size == 0
    assert credits.journey_totals()[0].tolist() == [0.0, 0.0]
