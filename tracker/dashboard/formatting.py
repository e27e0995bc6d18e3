"""How every number and moment reads on the dashboard: pages, tiles and charts all format
through :func:`format_value`, so "4.2×", "€1,250.00" and "—" mean the same thing everywhere.
CSV downloads never pass through here: they keep the reports' raw values for spreadsheets.

Kinds (the reports' column kinds, plus the two the raw ratio hides):

- ``integer``: whole counts (visitors, sessions, clicks) → ``1,204``
- ``count``: credited counts (leads, customers). Under fractional models a lead's credit is
  split over its touches, so a channel can hold 2.5 leads; shown as such with a tooltip.
- ``money``: the site currency with its symbol → ``$1,250.00``
- ``percent``: already per hundred (rates) → ``12.5%``
- ``ratio`` / ``roas``: revenue per unit of cost → ``4.2×``
- ``roi``: a fraction (1.0 is break-even plus 100%) → ``100.0%``
- ``days``: a duration in days → ``3.5 days``
- ``seconds``: a duration in seconds (talk time) → ``1:35``, ``1:02:05`` from an hour
- ``datetime``: a UTC instant or ISO string → ``YYYY-MM-DD HH:MM`` in the site's time zone
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup, escape

from tracker.localtime import utc_moment, zone

UNKNOWN = "—"
# Symbols of the currencies sites most often report in; any other code is written out
# ("CHF 1,250.00"), which is how finance teams write them anyway.
CURRENCY_SYMBOLS = {
    "USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "INR": "₹", "CNY": "¥", "KRW": "₩",
    "BRL": "R$", "AUD": "A$", "CAD": "CA$", "NZD": "NZ$", "MXN": "MX$", "ILS": "₪",
    "PLN": "zł", "TRY": "₺", "UAH": "₴", "VND": "₫", "PHP": "₱", "NGN": "₦",
}
# Currencies without minor units are shown without decimals.
ZERO_DECIMAL = frozenset({"JPY", "KRW", "VND", "CLP", "ISK", "HUF"})
FRACTION_TOOLTIP = (
    "Fractional credit: the attribution model splits each conversion over the touches "
    "that led to it, so a channel can hold part of a lead or customer."
)
KINDS = frozenset({"integer", "count", "money", "percent", "ratio", "roas", "roi", "days",
                   "seconds", "datetime"})


@dataclass(frozen=True, slots=True)
class Formatted:
    """A value as text, with a tooltip when the text alone could mislead."""

    text: str
    title: str | None = None

    def __html__(self) -> str:
        if self.title is None:
            return str(escape(self.text))
        return str(Markup('<span class="frac" title="{}">{}</span>').format(self.title, self.text))

    def __str__(self) -> str:
        return self.text


def currency_symbol(code: str) -> str:
    return CURRENCY_SYMBOLS.get(code.upper(), f"{code.upper()} ")


def format_money(value: float, currency: str) -> str:
    places = 0 if currency.upper() in ZERO_DECIMAL else 2
    sign = "-" if value < 0 else ""
    return f"{sign}{currency_symbol(currency)}{abs(value):,.{places}f}"


def format_datetime(value: dt.datetime | str, timezone: str) -> str:
    """``YYYY-MM-DD HH:MM`` in ``timezone``; naive datetimes are taken as UTC (the
    database's convention)."""
    return utc_moment(value).astimezone(zone(timezone)).strftime("%Y-%m-%d %H:%M")


def format_seconds(seconds: float) -> str:
    """``m:ss``, or ``h:mm:ss`` from an hour, rounded to the second."""
    minutes, second = divmod(round(seconds), 60)
    hours, minute = divmod(minutes, 60)
    return f"{hours}:{minute:02d}:{second:02d}" if hours else f"{minute}:{second:02d}"


def _is_whole(value: float) -> bool:
    return abs(value - round(value)) < 0.005


def format_value(value: Any, kind: str, currency: str = "USD",
                 timezone: str = "UTC") -> Formatted:
    """``value`` of ``kind`` (see the module's docstring) as the dashboard shows it."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}")
    if value is None or value == "":
        return Formatted(UNKNOWN)
    if kind == "datetime":
        return Formatted(format_datetime(value, timezone))
    number = float(value)
    if number != number:  # NaN: no figure
        return Formatted(UNKNOWN)
    if kind == "money":
        return Formatted(format_money(number, currency))
    if kind == "percent":
        return Formatted(f"{number:,.1f}%")
    if kind == "roi":
        return Formatted(f"{number * 100:,.1f}%")
    if kind == "days":
        return Formatted(f"{number:,.1f} days")
    if kind == "seconds":
        return Formatted(format_seconds(number))
    if kind in ("ratio", "roas"):
        return Formatted(f"{number:,.1f}×")
    if kind == "integer" or _is_whole(number):
        return Formatted(f"{round(number):,d}")
    return Formatted(f"{number:,.2f}", FRACTION_TOOLTIP)


# Rates compare by their difference in percentage points: 2% → 3% is "+1.0 pp", not "+50%".
POINT_KINDS = {"percent": 1.0, "roi": 100.0}
NEW = "new"


def format_change(value: Any, base: Any, kind: str) -> Formatted:
    """``value`` against the comparison period's ``base`` for a figure of ``kind``:
    percentage points for rates, else the relative change in %; "new" when the base is 0 and
    the figure is not, "—" when either is unknown or both are 0."""
    if kind not in KINDS or kind == "datetime":
        raise ValueError(f"no change for kind {kind!r}")
    if value is None or base is None or value == "" or base == "":
        return Formatted(UNKNOWN)
    now, before = float(value), float(base)
    if now != now or before != before:  # NaN
        return Formatted(UNKNOWN)
    if kind in POINT_KINDS:
        return Formatted(f"{(now - before) * POINT_KINDS[kind]:+,.1f} pp")
    if before == 0:
        return Formatted(UNKNOWN if now == 0 else NEW)
    return Formatted(f"{(now - before) / abs(before) * 100:+,.1f}%")


@dataclass(frozen=True, slots=True)
class SiteFormatter:
    """:func:`format_value` bound to one site's currency and time zone: the templates'
    ``fmt(value, kind)``."""

    currency: str
    timezone: str

    def __call__(self, value: Any, kind: str = "count") -> Formatted:
        return format_value(value, kind, self.currency, self.timezone)

    def change(self, value: Any, base: Any, kind: str = "count") -> Formatted:
        return format_change(value, base, kind)

    def texts(self, values: list[Any], kind: str) -> list[str]:
        """Chart points as the tables show them (Chart.js tooltips read these)."""
        return [self(value, kind).text for value in values]
