"""Invariants every registered model must keep (lifelines' all-models style)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings

from attribution import Journey, JourneyBatch, Touch, create_model, model_names
from tests.unit.attribution.strategies import journey_lists


def fitted(name: str, batch: JourneyBatch):  # type: ignore[no-untyped-def]
    return create_model(name).fit(batch)


@pytest.mark.parametrize("name", model_names())
class TestEveryModel:
    @settings(max_examples=60, deadline=None)
    @given(rows=journey_lists)
    def test_credits_are_non_negative_and_sum_to_one_per_conversion(self, name, rows):
        batch = JourneyBatch.from_journeys(rows)

        credits = fitted(name, batch).attribute(batch)

        credit, value = credits.journey_totals()
        assert np.all(credits.credit >= 0)
        assert np.all(credits.value >= 0)
        converted = batch.attributable
        np.testing.assert_allclose(credit[converted], 1.0, rtol=1e-9)
        np.testing.assert_allclose(credit[~converted], 0.0)
        np.testing.assert_allclose(value, batch.value, rtol=1e-9, atol=1e-6)

    @settings(max_examples=25, deadline=None)
    @given(rows=journey_lists)
    def test_attribution_is_deterministic(self, name, rows):
        batch = JourneyBatch.from_journeys(rows)

        first = fitted(name, batch).attribute(batch)
        second = fitted(name, JourneyBatch.from_journeys(rows)).attribute(batch)

        np.testing.assert_array_equal(first.credit, second.credit)
        np.testing.assert_array_equal(first.value, second.value)

    def test_one_touch_gets_everything(self, name):
        rows = [
            Journey((Touch("Email", 0.0),), value=250.0),
            Journey((Touch("Direct", 0.0), Touch("Email", 10.0)), converted=False),
        ]
        batch = JourneyBatch.from_journeys(rows)

        credits = fitted(name, batch).attribute(batch)

        assert credits.credit[0] == pytest.approx(1.0)
        assert credits.value[0] == pytest.approx(250.0)
        assert credits.credit[1:].sum() == 0

    def test_a_single_journey_object_is_accepted(self, name):
        journey = Journey((Touch("Paid Search", 0.0), Touch("Email", 5.0)), value=10.0)

        credits = fitted(name, JourneyBatch.from_journeys([journey])).attribute(journey)

        assert credits.credit.sum() == pytest.approx(1.0)

    def test_channel_totals_equal_total_conversions_and_value(self, name):
        rows = [
            Journey((Touch("Paid Search", 0.0), Touch("Email", 5.0), Touch("Direct", 9.0)),
                    value=300.0, lead_index=1),
            Journey((Touch("Organic Search", 0.0), Touch("Paid Search", 3.0)), value=100.0),
            Journey((Touch("Email", 0.0),), converted=False),
        ]
        batch = JourneyBatch.from_journeys(rows)

        totals = fitted(name, batch).attribute(batch).by_channel()

        assert sum(c for c, _ in totals.values()) == pytest.approx(2.0)
        assert sum(v for _, v in totals.values()) == pytest.approx(400.0)
