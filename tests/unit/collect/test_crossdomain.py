"""Signed cross-domain visitor tokens: adopted when intact and fresh, refused otherwise."""

from __future__ import annotations

import datetime as dt

import pytest

from tracker.collect.crossdomain import TOKEN_TTL, sign_visitor, verify_token
from tracker.errors import ValidationError

NOW = dt.datetime(2026, 11, 22, 12, tzinfo=dt.UTC)
SECRET = "test-secret"


def test_a_fresh_token_gives_back_the_visitor_id() -> None:
    token = sign_visitor(SECRET, 7, "lt1.abc.DEF-123", NOW)

    assert verify_token(SECRET, 7, token, NOW + dt.timedelta(minutes=5)) == "lt1.abc.DEF-123"


@pytest.mark.parametrize(
    "tamper",
    [
        lambda t: t.replace("visitor-one", "visitor-two"),
        lambda t: t[:-1] + ("0" if t[-1] != "0" else "1"),
        lambda t: t.rsplit(".", 2)[0] + ".9999999999." + t.rsplit(".", 1)[1],
        lambda t: "garbage",
        lambda t: 42,
    ],
)
def test_a_tampered_token_is_refused(tamper) -> None:  # type: ignore[no-untyped-def]
    token = sign_visitor(SECRET, 7, "visitor-one", NOW)

    with pytest.raises(ValidationError) as caught:
        verify_token(SECRET, 7, tamper(token), NOW)

    assert caught.value.field == "token"


def test_an_expired_token_or_another_sites_token_is_refused() -> None:
    token = sign_visitor(SECRET, 7, "visitor-one", NOW)

    with pytest.raises(ValidationError, match="expired"):
        verify_token(SECRET, 7, token, NOW + TOKEN_TTL + dt.timedelta(seconds=1))
    with pytest.raises(ValidationError, match="signature"):
        verify_token(SECRET, 8, token, NOW)
