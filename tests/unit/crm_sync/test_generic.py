"""Our generic format: Stripe-style signatures with rotation, and strict event parsing."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm_sync.errors import PayloadInvalid, SignatureInvalid, SignatureReason
from crm_sync.events import DealEvent
from crm_sync.providers import generic
from crm_sync.values import MAX_BODY_BYTES

SECRET = "whsec_test_secret"
T = 1_700_000_000
NOW = dt.datetime.fromtimestamp(T + 30, dt.UTC)
BODY = b'{"id":"evt_1","type":"deal.won"}'


def stripe_v1(body: bytes, secret: str, t: int) -> str:
    """Written from stripe-python's description, independently of the module under test."""
    return hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()


def test_the_stripe_test_vector_is_reproduced() -> None:
    assert generic.sign(BODY, SECRET, T) == (
        "t=1700000000,v1=a2e12a17c69c9db3d2640bc3241c3435e329ac2cefe1ad9a39a4ab80e8a5669e"
    )


def test_a_signed_fresh_body_is_accepted() -> None:
    generic.verify(BODY, f"t={T},v1={stripe_v1(BODY, SECRET, T)}", secrets=[SECRET], now=NOW)


def test_either_active_secret_verifies_while_one_is_rotated() -> None:
    header_old = generic.sign(BODY, "old-secret", T)
    header_new = generic.sign(BODY, "new-secret", T)

    for header in (header_old, header_new):
        generic.verify(BODY, header, secrets=["new-secret", "old-secret"], now=NOW)
    with pytest.raises(SignatureInvalid):
        generic.verify(BODY, header_old, secrets=["new-secret"], now=NOW)


def test_any_of_several_v1_values_may_match_and_other_schemes_are_ignored() -> None:
    header = f"t={T},v0=zzz,v1={'0' * 64},v1={stripe_v1(BODY, SECRET, T)},v9=x"

    generic.verify(BODY, header, secrets=[SECRET], now=NOW)


@pytest.mark.parametrize(
    ("header", "secrets", "now", "reason"),
    [
        (None, [SECRET], NOW, SignatureReason.MISSING_SIGNATURE),
        ("  ", [SECRET], NOW, SignatureReason.MISSING_SIGNATURE),
        ("v1=abc", [SECRET], NOW, SignatureReason.MALFORMED),
        (f"t={T}", [SECRET], NOW, SignatureReason.MALFORMED),
        (f"t=soon,v1={stripe_v1(BODY, SECRET, T)}", [SECRET], NOW, SignatureReason.MALFORMED),
        (f"t={T},t={T},v1=abc", [SECRET], NOW, SignatureReason.MALFORMED),
        ("garbage", [SECRET], NOW, SignatureReason.MALFORMED),
        (f"t={T},v1={stripe_v1(BODY, 'wrong', T)}", [SECRET], NOW, SignatureReason.BAD_SIGNATURE),
        (f"t={T},v1={stripe_v1(BODY, SECRET, T)}", [], NOW, SignatureReason.BAD_SIGNATURE),
        (
            f"t={T + 1},v1={stripe_v1(BODY, SECRET, T)}",
            [SECRET],
            NOW,
            SignatureReason.BAD_SIGNATURE,
        ),
        (
            f"t={T},v1={stripe_v1(BODY, SECRET, T)}",
            [SECRET],
            NOW + dt.timedelta(minutes=5),
            SignatureReason.STALE_TIMESTAMP,
        ),
        (
            f"t={T},v1={stripe_v1(BODY, SECRET, T)}",
            [SECRET],
            NOW - dt.timedelta(minutes=6),
            SignatureReason.STALE_TIMESTAMP,
        ),
    ],
)
def test_each_bad_signature_is_refused_with_its_reason(
    header: str | None, secrets: list[str], now: dt.datetime, reason: SignatureReason
) -> None:
    with pytest.raises(SignatureInvalid) as refused:
        generic.verify(BODY, header, secrets=secrets, now=now)
    assert refused.value.reason is reason


def test_a_changed_body_does_not_verify() -> None:
    header = generic.sign(BODY, SECRET, T)

    with pytest.raises(SignatureInvalid) as refused:
        generic.verify(BODY + b" ", header, secrets=[SECRET], now=NOW)
    assert refused.value.reason is SignatureReason.BAD_SIGNATURE


@given(
    body=st.binary(max_size=512),
    secret=st.text(min_size=1, max_size=40),
    t=st.integers(min_value=946_684_800, max_value=4_102_444_800),
    skew=st.integers(min_value=-300, max_value=300),
)
def test_sign_then_verify_round_trips(body: bytes, secret: str, t: int, skew: int) -> None:
    now = dt.datetime.fromtimestamp(t + skew, dt.UTC)

    generic.verify(body, generic.sign(body, secret, t), secrets=[secret], now=now)


@given(body=st.binary(max_size=256), flip=st.integers(min_value=0, max_value=255))
def test_any_other_body_fails_to_verify(body: bytes, flip: int) -> None:
    header = generic.sign(body, SECRET, T)
    forged = body + bytes([flip])

    with pytest.raises(SignatureInvalid):
        generic.verify(forged, header, secrets=[SECRET], now=NOW)


def event(**deal: object) -> dict[str, object]:
    return {
        "id": "evt_01HXYZ",
        "type": "deal.updated",
        "occurred_at": "2026-06-30T12:00:00Z",
        "deal": {"id": "D-123", **deal},
    }


def parse(document: object) -> list[DealEvent]:
    return generic.parse(json.dumps(document).encode())


def test_the_documented_example_parses() -> None:
    document = {
        "id": "evt_01HXYZ",
        "type": "deal.won",
        "occurred_at": "2026-06-30T12:00:00Z",
        "deal": {
            "id": "D-123",
            "lead_id": "6f1c2b9e-8a43-4a52-9d0e-3c8e1f2a7b64",
            "email": "Person@Example.com",
            "amount": "5000.00",
            "currency": "EUR",
            "stage": "closed_won",
        },
    }

    (parsed,) = parse(document)

    assert (parsed.provider, parsed.external_deal_id, parsed.provider_event_id) == (
        "generic",
        "D-123",
        "evt_01HXYZ",
    )
    assert parsed.lead_id == "6f1c2b9e-8a43-4a52-9d0e-3c8e1f2a7b64"
    assert parsed.values() == {
        "amount": Decimal("5000.00"),
        "closed_at": dt.datetime(2026, 6, 30, 12, tzinfo=dt.UTC),
        "contact_emails": ("person@example.com",),
        "currency": "EUR",
        "deleted": False,
        "stage": "closed_won",
        "status": "won",
    }


def test_an_update_carries_only_the_keys_it_gives() -> None:
    (parsed,) = parse(event(amount=1200.5))

    assert parsed.values() == {"amount": Decimal("1200.5")}


def test_json_numbers_keep_their_digits() -> None:
    (parsed,) = generic.parse(
        b'{"id":"e","type":"deal.updated","occurred_at":"2026-06-30T12:00:00+02:00",'
        b'"deal":{"id":"D","amount":0.1}}'
    )

    assert parsed.amount == Decimal("0.1")
    assert parsed.occurred_at == dt.datetime(2026, 6, 30, 10, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        (
            "deal.created",
            {"status": "open", "created_at": dt.datetime(2026, 6, 30, 12, tzinfo=dt.UTC)},
        ),
        (
            "deal.lost",
            {
                "status": "lost",
                "deleted": False,
                "closed_at": dt.datetime(2026, 6, 30, 12, tzinfo=dt.UTC),
            },
        ),
        ("deal.reopened", {"status": "open", "deleted": False, "closed_at": None}),
        ("deal.deleted", {"deleted": True}),
    ],
)
def test_each_type_implies_its_state(kind: str, expected: dict[str, object]) -> None:
    (parsed,) = parse({**event(), "type": kind})

    assert parsed.values() == expected


def test_a_refund_is_a_negative_adjustment_carried_as_the_new_amount() -> None:
    (parsed,) = parse(event(amount="-250.00"))

    assert parsed.amount == Decimal("-250.00")


def test_a_batch_gives_its_events_in_order() -> None:
    second = {**event(amount="10"), "id": "evt_2"}

    parsed = parse({"events": [event(name="Acme"), second]})

    assert [item.provider_event_id for item in parsed] == ["evt_01HXYZ", "evt_2"]


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({**event(), "colour": "red"}, "colour"),
        (event(probability=0.5), "deal.probability"),
        ({"events": [event(), event(foo=1)]}, "events.1.deal.foo"),
        ({"events": [event()], "extra": 1}, "extra"),
        ({"events": []}, "events"),
        ({"events": [event()] * 101}, "events"),
        ({**event(), "type": "deal.exploded"}, "type"),
        ({**event(), "id": ""}, "id"),
        ({**event(), "occurred_at": "2026-06-30T12:00:00"}, "occurred_at"),
        ({**event(), "occurred_at": 1700000000}, "occurred_at"),
        ({**event(), "deal": {"amount": "1"}}, "deal.id"),
        ({**event(), "deal": []}, "deal"),
        (event(status="closed"), "deal.status"),
        ({**event(status="open"), "type": "deal.won"}, "deal.status"),
        ({**event(closed_at="2026-01-01T00:00:00Z"), "type": "deal.reopened"}, "deal.closed_at"),
        ({**event(deleted=False), "type": "deal.deleted"}, "deal.deleted"),
        (event(amount="lots"), "deal.amount"),
        (event(amount="1e40"), "deal.amount"),
        (event(amount=True), "deal.amount"),
        (event(currency="euros"), "deal.currency"),
        (event(email="not-an-email"), "deal.email"),
        (event(deleted="maybe"), "deal.deleted"),
        (event(lead_id=["x"]), "deal.lead_id"),
        ([event()], "body"),
    ],
)
def test_bad_events_are_refused_naming_the_field(document: object, field: str) -> None:
    with pytest.raises(PayloadInvalid) as refused:
        parse(document)
    assert refused.value.field == field


def test_non_json_and_nan_are_refused() -> None:
    for body in (b"\xff\xfe", b"{", b'{"id": NaN}'):
        with pytest.raises(PayloadInvalid) as refused:
            generic.parse(body)
        assert refused.value.field == "body"


def test_an_oversized_body_is_refused_before_parsing() -> None:
    with pytest.raises(PayloadInvalid, match="larger than"):
        generic.parse(b" " * (MAX_BODY_BYTES + 1))
