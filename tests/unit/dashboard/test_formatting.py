"""Every kind of figure reads as its kind: the dashboard's one formatting module."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from markupsafe import Markup

from tracker.dashboard.formatting import (
    FRACTION_TOOLTIP,
    SiteFormatter,
    format_change,
    format_datetime,
    format_value,
)


@pytest.mark.parametrize(
    ("value", "kind", "currency", "expected"),
    [
        (1250.5, "money", "USD", "$1,250.50"),
        (Decimal("99.999"), "money", "EUR", "€100.00"),
        (-12, "money", "GBP", "-£12.00"),
        (1250, "money", "JPY", "¥1,250"),
        (1250, "money", "CHF", "CHF 1,250.00"),
        (468.0, "count", "USD", "468"),
        (1234567, "integer", "USD", "1,234,567"),
        (4.2391, "roas", "USD", "4.2×"),
        (4.2391, "ratio", "USD", "4.2×"),
        (1.0, "roi", "USD", "100.0%"),
        (-0.355, "roi", "USD", "-35.5%"),
        (12.345, "percent", "USD", "12.3%"),
        (3.456, "days", "USD", "3.5 days"),
        (95, "seconds", "USD", "1:35"),
        (59.6, "seconds", "USD", "1:00"),
        (3725, "seconds", "USD", "1:02:05"),
        (None, "money", "USD", "—"),
        (None, "roas", "USD", "—"),
        (float("nan"), "count", "USD", "—"),
    ],
)
def test_each_kind_reads_as_itself(value: object, kind: str, currency: str,
                                   expected: str) -> None:
    formatted = format_value(value, kind, currency)
    assert formatted.text == expected
    assert formatted.title is None


def test_fractional_credit_is_shown_with_its_explanation() -> None:
    formatted = format_value(2.5, "count")
    assert formatted.text == "2.50"
    assert formatted.title == FRACTION_TOOLTIP
    html = Markup(formatted.__html__())
    assert 'class="frac"' in html and "2.50" in html and "Fractional credit" in html


def test_whole_counts_have_no_tooltip_and_escape_as_plain_text() -> None:
    assert format_value(6.0, "count").__html__() == "6"


@pytest.mark.parametrize(
    ("value", "zone", "expected"),
    [
        ("2026-12-01T06:16:59.574000Z", "UTC", "2026-12-01 06:16"),
        ("2026-12-01T06:16:59.574000Z", "America/New_York", "2026-12-01 01:16"),
        (dt.datetime(2026, 7, 1, 22, 30), "Europe/Berlin", "2026-07-02 00:30"),
        (dt.datetime(2026, 7, 1, 22, 30, tzinfo=dt.UTC), "Asia/Kolkata", "2026-07-02 04:00"),
    ],
)
def test_moments_are_shown_in_the_site_time_zone(value: object, zone: str,
                                                  expected: str) -> None:
    assert format_datetime(value, zone) == expected  # type: ignore[arg-type]
    assert SiteFormatter("USD", zone)(value, "datetime").text == expected


def test_chart_texts_match_the_table_text() -> None:
    fmt = SiteFormatter("EUR", "UTC")
    assert fmt.texts([1000, None, 2.5], "money") == ["€1,000.00", "—", "€2.50"]


def test_an_unknown_kind_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="kind"):
        format_value(1, "furlongs")


@pytest.mark.parametrize(("value", "base", "kind", "text"), [
    (150, 100, "money", "+50.0%"),
    (2, 4, "count", "-50.0%"),
    (3.5, 2.0, "percent", "+1.5 pp"),       # rates: points, not +75%
    (0.2, 0.5, "roi", "-30.0 pp"),          # ROI is a fraction shown per hundred
    (12.0, 0.0, "percent", "+12.0 pp"),     # a rate from 0 still has a difference
    (5, 0, "count", "new"),
    (0, 0, "money", "—"),
    (5, None, "money", "—"),
    (None, 5, "integer", "—"),
])
def test_a_change_against_the_comparison_period(value: object, base: object, kind: str,
                                                text: str) -> None:
    assert format_change(value, base, kind).text == text
