"""The dashboard's URL filters: comparison periods and the date picker's shortcuts."""

from __future__ import annotations

import datetime as dt

import pytest

from tracker.dashboard.filters import parse_filters, presets
from tracker.errors import ValidationError

TODAY = dt.date(2026, 5, 14)


def test_the_comparison_period_is_the_previous_one_or_last_years() -> None:
    previous = parse_filters({"from": "2026-05-01", "to": "2026-05-14"}, TODAY)
    yearly = parse_filters({"from": "2024-02-29", "to": "2024-03-06", "compare": "year"}, TODAY)

    earlier = previous.comparison()
    assert (earlier.start, earlier.end) == (dt.date(2026, 4, 17), dt.date(2026, 5, 1))
    last = yearly.comparison()
    assert (last.start, last.end) == (dt.date(2023, 2, 28), dt.date(2023, 3, 7))
    assert previous.query().get("compare") is None and yearly.query()["compare"] == "year"


def test_an_unknown_comparison_is_refused_naming_it() -> None:
    with pytest.raises(ValidationError) as raised:
        parse_filters({"compare": "decade"}, TODAY)
    assert raised.value.field == "compare"


def test_the_presets_end_today_or_at_the_end_of_last_month() -> None:
    ranges = {label: (first, last) for label, first, last in presets(TODAY)}

    assert ranges["Last 7 days"] == (dt.date(2026, 5, 8), TODAY)
    assert ranges["Last 30 days"] == (dt.date(2026, 4, 15), TODAY)
    assert ranges["Last 90 days"] == (dt.date(2026, 2, 14), TODAY)
    assert ranges["This month"] == (dt.date(2026, 5, 1), TODAY)
    assert ranges["Last month"] == (dt.date(2026, 4, 1), dt.date(2026, 4, 30))
    assert ranges["This quarter"] == (dt.date(2026, 4, 1), TODAY)
    assert ranges["This year"] == (dt.date(2026, 1, 1), TODAY)
