"""DESIGN section 7 formulas: the worked examples of the docstrings, and null on zero."""

from __future__ import annotations

from decimal import Decimal

import pytest

from attribution import metrics


@pytest.mark.parametrize(
    ("function", "args", "expected"),
    [
        (metrics.visitor_to_lead_rate, (30, 1200), 2.5),
        (metrics.session_to_lead_rate, (30, 2000), 1.5),
        (metrics.lead_to_customer_rate, (6, 30), 20.0),
        (metrics.visitor_to_customer_rate, (6, 1200), 0.5),
        (metrics.session_to_customer_rate, (6, 2000), 0.3),
        (metrics.lead_value, (12000, 30), 400.0),
        (metrics.cost_per_lead, (1500, 30), 50.0),
        (metrics.cost_per_acquisition, (1500, 6), 250.0),
        (metrics.average_revenue_per_customer, (12000, 6), 2000.0),
        (metrics.return_on_ad_spend, (12000, 1500), 8.0),
        (metrics.return_on_investment, (12000, 0.25, 1500), 1.0),
        (metrics.win_rate, (3, 1), 75.0),
        (metrics.stage_rate, (10, 40), 25.0),
    ],
)
def test_worked_examples(function, args, expected):
    assert function(*args) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("function", "args"),
    [
        (metrics.visitor_to_lead_rate, (5, 0)),
        (metrics.lead_to_customer_rate, (0, 0)),
        (metrics.lead_value, (100, 0)),
        (metrics.cost_per_lead, (100, 0)),
        (metrics.cost_per_acquisition, (100, 0)),
        (metrics.return_on_ad_spend, (100, 0)),
        (metrics.return_on_investment, (100, 0.5, 0)),
        (metrics.win_rate, (0, 0)),
    ],
)
def test_division_by_zero_is_none_not_zero(function, args):
    assert function(*args) is None


def test_zero_numerator_is_a_real_zero():
    assert metrics.cost_per_lead(0, 10) == 0.0


def test_money_stays_exact_in_decimal():
    assert metrics.lead_value(Decimal("100.00"), 3) == Decimal("100.00") / 3
    assert metrics.return_on_investment(Decimal("1000"), Decimal("0.3"), Decimal("200")) == (
        Decimal("0.5")
    )


def test_time_to_conversion_in_days():
    day = 86_400.0
    assert metrics.median_days([day, 2 * day, 10 * day]) == 2.0
    assert metrics.mean_days([day, 2 * day, 9 * day]) == 4.0
    assert metrics.median_days([]) is None
    assert metrics.mean_days([]) is None
