"""The report formulas of DESIGN section 7, each a plain function marketers can check by hand.

Every function returns ``None`` when its denominator is zero (the figure is undefined, which
a report shows as null, never as 0). Rates are percentages (``x 100``); ROAS and ROI are
ratios (ROI 0.5 means 50% return). Money may be ``Decimal`` (exact to the cent) or ``float``;
with a ``Decimal`` input the result is a ``Decimal``.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from decimal import Decimal
from typing import overload

Number = int | float | Decimal

SECONDS_PER_DAY = 86_400.0
HUNDRED = Decimal(100)


@overload
def _divide(numerator: Decimal, denominator: Number) -> Decimal | None: ...
@overload
def _divide(numerator: Number, denominator: Decimal) -> Decimal | None: ...
@overload
def _divide(numerator: int | float, denominator: int | float) -> float | None: ...
def _divide(numerator: Number, denominator: Number) -> Number | None:
    if denominator == 0:
        return None
    if isinstance(numerator, Decimal) or isinstance(denominator, Decimal):
        return Decimal(numerator) / Decimal(denominator)
    return numerator / denominator


def _percent(numerator: Number, denominator: Number) -> Number | None:
    ratio = _divide(numerator, denominator)
    if ratio is None:
        return None
    return ratio * HUNDRED if isinstance(ratio, Decimal) else ratio * 100.0


def visitor_to_lead_rate(leads: Number, unique_visitors: Number) -> Number | None:
    """Leads per 100 unique visitors. Example: 30 leads from 1,200 visitors → 2.5."""
    return _percent(leads, unique_visitors)


def session_to_lead_rate(leads: Number, sessions: Number) -> Number | None:
    """Leads per 100 sessions. Example: 30 leads over 2,000 sessions → 1.5."""
    return _percent(leads, sessions)


def lead_to_customer_rate(customers: Number, leads: Number) -> Number | None:
    """Customers per 100 leads. Example: 6 customers from 30 leads → 20.0."""
    return _percent(customers, leads)


def visitor_to_customer_rate(customers: Number, unique_visitors: Number) -> Number | None:
    """Customers per 100 unique visitors. Example: 6 customers, 1,200 visitors → 0.5."""
    return _percent(customers, unique_visitors)


def session_to_customer_rate(customers: Number, sessions: Number) -> Number | None:
    """Customers per 100 sessions. Example: 6 customers over 2,000 sessions → 0.3."""
    return _percent(customers, sessions)


def lead_value(revenue: Number, leads: Number) -> Number | None:
    """Revenue per lead in one period and grouping. Example: 12,000 revenue, 30 leads → 400."""
    return _divide(revenue, leads)


def cost_per_lead(cost: Number, leads: Number) -> Number | None:
    """CPL. Example: 1,500 spent for 30 leads → 50."""
    return _divide(cost, leads)


def cost_per_acquisition(cost: Number, new_customers: Number) -> Number | None:
    """CPA: cost per new customer. Example: 1,500 spent, 6 new customers → 250."""
    return _divide(cost, new_customers)


def click_through_rate(clicks: Number, impressions: Number) -> Number | None:
    """CTR in percent, from the ad platform's clicks and impressions. Example: 30 clicks on
    1,200 impressions → 2.5."""
    return _percent(clicks, impressions)


def cost_per_click(cost: Number, clicks: Number) -> Number | None:
    """CPC. Example: 90 spent for 30 clicks → 3."""
    return _divide(cost, clicks)


def click_to_lead_rate(leads: Number, clicks: Number) -> Number | None:
    """Leads per 100 ad clicks (the platform's clicks, not our sessions). Example: 3 leads
    from 60 clicks → 5."""
    return _percent(leads, clicks)


def average_revenue_per_customer(revenue: Number, customers: Number) -> Number | None:
    """ARPC. Example: 12,000 revenue from 6 customers → 2,000."""
    return _divide(revenue, customers)


def return_on_ad_spend(revenue: Number, cost: Number) -> Number | None:
    """ROAS as a ratio. Example: 12,000 revenue on 1,500 cost → 8.0."""
    return _divide(revenue, cost)


def return_on_investment(revenue: Number, gross_margin: Number, cost: Number) -> Number | None:
    """ROI = (gross margin of new customers − acquisition cost) / acquisition cost.

    ``gross_margin`` is the site's margin as a fraction of revenue. Example: 12,000 revenue
    at a 0.25 margin is 3,000 of margin; on 1,500 cost, ROI = (3,000 − 1,500) / 1,500 = 1.0.
    """
    if any(isinstance(number, Decimal) for number in (revenue, gross_margin, cost)):
        margin = Decimal(revenue) * Decimal(gross_margin)
        return _divide(margin - Decimal(cost), cost)
    return _divide(float(revenue) * float(gross_margin) - float(cost), cost)


def win_rate(won: Number, lost: Number) -> Number | None:
    """Won deals per 100 closed deals: won / (won + lost) × 100. Example: 3 won, 1 lost → 75.0."""
    closed = Decimal(won) + Decimal(lost) if isinstance(won, Decimal) else float(won) + float(lost)
    return _percent(won, closed)


def stage_rate(reached_next: Number, reached_this: Number) -> Number | None:
    """Share (%) of the leads that reached a funnel stage and also reached the next one.

    Example: 40 MQLs of which 10 became SQLs → 25.0.
    """
    return _percent(reached_next, reached_this)


def median_days(durations_seconds: Iterable[float]) -> float | None:
    """Median time to conversion in days. Example: 1, 2 and 10 days → 2.0."""
    days = [seconds / SECONDS_PER_DAY for seconds in durations_seconds]
    return float(statistics.median(days)) if days else None


def mean_days(durations_seconds: Iterable[float]) -> float | None:
    """Mean time to conversion in days. Example: 1, 2 and 9 days → 4.0."""
    days = [seconds / SECONDS_PER_DAY for seconds in durations_seconds]
    return float(statistics.fmean(days)) if days else None
