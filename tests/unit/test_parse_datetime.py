"""The one ISO 8601 date-time parser every API body, query and provider callback uses."""

from __future__ import annotations

import datetime as dt

import pytest

from tracker.errors import ValidationError
from tracker.validation import parse_datetime

UTC_TEN = dt.datetime(2026, 11, 2, 10, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize("raw", ["2026-11-02T10:00:00Z", "2026-11-02T11:00:00+01:00",
                                 "2026-11-02T10:00:00.000+00:00"])
def test_a_time_with_its_offset_is_the_utc_instant(raw: str) -> None:
    assert parse_datetime(raw, "at") == UTC_TEN


def test_a_time_without_offset_is_refused_unless_read_as_utc() -> None:
    with pytest.raises(ValidationError, match="time zone") as refused:
        parse_datetime("2026-11-02T10:00:00", "at")
    assert refused.value.field == "at"
    assert parse_datetime("2026-11-02T10:00:00", "at", naive_is_utc=True) == UTC_TEN


@pytest.mark.parametrize("raw", [None, 5, "", "yesterday", "2026-11-02T10:00:00Z" + " " * 30,
                                 # outside the date window, and overflowing on the shift to UTC
                                 "0001-01-01T00:30:00+01:00", "9999-12-31T23:30:00-01:00"])
def test_anything_else_is_a_validation_error_naming_the_field(raw: object) -> None:
    with pytest.raises(ValidationError) as refused:
        parse_datetime(raw, "occurred_at")
    assert refused.value.field == "occurred_at"
