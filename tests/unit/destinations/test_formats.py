"""The platforms' formats against their published shapes and hashing check values."""

from __future__ import annotations

import datetime as dt
import decimal

import pytest

from tracker.destinations.formats import ga4, google_ads, hashing, linkedin, meta, microsoft_ads
from tracker.destinations.formats.conversion import Click, Conversion

NOW = dt.datetime(2026, 6, 30, 12, 0, tzinfo=dt.UTC)
CLICKED = NOW - dt.timedelta(days=3)


def won(**changes: object) -> Conversion:
    base = dict(key="won:d1", kind="conversion", milestone="won", name="purchase",
                occurred_at=NOW - dt.timedelta(hours=1), value=decimal.Decimal("5000.0000"),
                currency="EUR", order_id="hubspot-123", lead_id="lead-1",
                email=" Person@Example.com ", phone="+49 151 1234 5678")
    base.update(changes)
    return Conversion(**base)  # type: ignore[arg-type]


# sha256 check values: Meta's (and Snap's) published example for person@example.com; the
# others are sha256 of the normalised strings named beside them.
@pytest.mark.parametrize(("function", "given", "expected"), [
    (hashing.meta_email, " Person@Example.com ",
     "542d240129883c019e106e3b1b2d3f3cb3537c43c425364de8e951d5a3083345"),
    (hashing.linkedin_email, "PERSON@example.com",
     "542d240129883c019e106e3b1b2d3f3cb3537c43c425364de8e951d5a3083345"),
    # Google drops the dots of a gmail.com local part: janedoe@gmail.com
    (hashing.google_hashed_email, "Jane.Doe@Gmail.com",
     "d6117306485ed0e50afab3ac871e98f81699151f30281527d63ff5f233656c69"),
    # … and keeps them elsewhere: jane.doe@example.com
    (hashing.google_hashed_email, "Jane.Doe@example.com",
     "86e0b9e56c17cc4d12387e1949b85053fbe73bc3ce5a1188713a9d300cc6133d"),
    # Meta: digits with country code, no '+': 4915112345678
    (hashing.meta_phone, "+49 151 1234-5678",
     "8efb96404be52f6109b9db0f687274a81e9e3cc23fabd6f0da5d38baa3d2facd"),
    # Google: E.164 with '+': +4915112345678
    (hashing.google_hashed_phone, "0049 151 12345678",
     "536afd523e19dc83fccba822ef5e4ca646111314aaf0aa286667c5bea18dd70b"),
])
def test_hashing_check_values(function: object, given: str, expected: str) -> None:
    assert function(given) == expected  # type: ignore[operator]


def test_ga_cookie_gives_client_id() -> None:
    assert ga4.client_id_from_ga_cookie("GA1.1.1234567890.1700000000") == "1234567890.1700000000"
    assert ga4.client_id_from_ga_cookie("GA1.2.99.1") == "99.1"
    assert ga4.client_id_from_ga_cookie("nonsense") is None


def test_ga4_batches_per_client_and_refuses_old_events() -> None:
    many = [won(key=f"k{i}", ga_client_id="1.2") for i in range(30)]
    old = won(key="old", ga_client_id="1.2", occurred_at=NOW - dt.timedelta(hours=73))
    no_client = won(key="anon")

    prepared = ga4.prepare([*many, old, no_client], {"measurement_id": "G-X"},
                           {"api_secret": "s"}, NOW)

    assert [len(r.keys) for r in prepared.requests] == [25, 5]
    assert prepared.refused["old"] == "older than GA4's 72 h backdating limit"
    assert "client_id" in prepared.refused["anon"]
    first = prepared.requests[0]
    assert first.path == "/mp/collect"
    assert first.params == {"measurement_id": "G-X", "api_secret": "s"}
    assert first.body["client_id"] == "1.2"
    assert first.body["events"][0] == {
        "name": "purchase",
        "params": {"engagement_time_msec": 1, "transaction_id": "hubspot-123",
                   "value": 5000.0, "currency": "EUR"},
        "timestamp_micros": int((NOW - dt.timedelta(hours=1)).timestamp()) * 1_000_000,
    }


def test_ga4_retraction_is_a_refund_and_validation_uses_debug() -> None:
    prepared = ga4.prepare([won(kind="retraction", key="retract:d1", ga_client_id="1.2")],
                           {"measurement_id": "G-X", "validate": True}, {}, NOW)

    request = prepared.requests[0]
    assert request.path == "/debug/mp/collect"
    assert request.body["events"][0]["name"] == "refund"
    answer = ga4.read_answer(request, {"validationMessages": [
        {"fieldPath": "events", "description": "Event name is reserved.",
         "validationCode": "NAME_RESERVED"}]})
    assert answer == {"retract:d1": "events: Event name is reserved. (NAME_RESERVED)"}


def test_meta_event_shape_and_stale_split() -> None:
    fresh = won(name="Purchase", clicks=(Click("fbclid", "IwAR2F4", CLICKED),))
    stale = won(key="stale", occurred_at=NOW - dt.timedelta(days=8))

    prepared = meta.prepare([fresh, stale], {"pixel_id": "123", "test_event_code": "TEST1"},
                            {}, NOW)

    assert prepared.refused == {"stale": "older than Meta's 7-day event age"}
    (request,) = prepared.requests
    assert request.path == "/v24.0/123/events"
    assert request.body["test_event_code"] == "TEST1"
    (event,) = request.body["data"]
    assert event["event_name"] == "Purchase"
    assert event["event_time"] == int((NOW - dt.timedelta(hours=1)).timestamp())
    assert event["action_source"] == "system_generated"
    assert event["event_id"] == "won:d1"
    assert event["user_data"]["em"] == [
        "542d240129883c019e106e3b1b2d3f3cb3537c43c425364de8e951d5a3083345"]
    assert event["user_data"]["fbc"] == f"fb.1.{int(CLICKED.timestamp() * 1000)}.IwAR2F4"
    assert event["custom_data"] == {"value": 5000.0, "currency": "EUR",
                                    "order_id": "hubspot-123"}


def test_google_ads_one_of_click_ids_window_and_enhanced() -> None:
    clicked = won(name="987", clicks=(Click("wbraid", "W", CLICKED), Click("gclid", "G", CLICKED)))
    before = won(key="early", clicks=(Click("gclid", "G", NOW),),
                 occurred_at=NOW - dt.timedelta(days=1))
    late = won(key="late", clicks=(Click("gclid", "G", NOW - dt.timedelta(days=100)),))
    email_only = won(key="ec", email="Jane.Doe@Gmail.com", phone=None)
    nothing = won(key="none", email=None, phone=None)

    prepared = google_ads.prepare([clicked, before, late, email_only, nothing],
                                  {"customer_id": "123-456-7890"}, {}, NOW)

    assert prepared.refused == {
        "early": "the conversion precedes the gclid click",
        "late": "the gclid click is outside the action's click-through window",
        "none": "no gclid, gbraid, wbraid or email to match",
    }
    (request,) = prepared.requests
    assert request.path == "/v25/customers/1234567890:uploadClickConversions"
    assert request.body["partialFailure"] is True and request.body["validateOnly"] is False
    first, second = request.body["conversions"]
    assert first["gclid"] == "G" and "wbraid" not in first and "gbraid" not in first
    assert first["conversionAction"] == "customers/1234567890/conversionActions/987"
    assert first["conversionDateTime"] == "2026-06-30 11:00:00+00:00"
    assert (first["conversionValue"], first["currencyCode"], first["orderId"]) == (
        5000.0, "EUR", "hubspot-123")
    assert second["userIdentifiers"] == [
        {"hashedEmail": "d6117306485ed0e50afab3ac871e98f81699151f30281527d63ff5f233656c69"}]
    assert not {"gclid", "gbraid", "wbraid"} & set(second)


def test_google_ads_adjustments_and_partial_failure() -> None:
    restated = won(kind="restatement", key="restate:d1:1", name="987",
                   value=decimal.Decimal("3000"))
    retracted = won(kind="retraction", key="retract:d1", name="987")

    (request,) = google_ads.prepare([restated, retracted], {"customer_id": "1"}, {},
                                    NOW).requests
    answer = google_ads.read_answer(request, {"partialFailureError": {
        "code": 3, "message": "Conversion not found.",
        "details": [{"@type": "type.googleapis.com/google.ads.googleads.v25.errors."
                              "GoogleAdsFailure",
                     "errors": [{"errorCode": {"conversionAdjustmentUploadError":
                                               "CONVERSION_NOT_FOUND"},
                                 "message": "Conversion not found.",
                                 "location": {"fieldPathElements": [
                                     {"fieldName": "conversion_adjustments", "index": 1}]}}]}]},
        "results": [{}, {}]})

    assert request.path.endswith(":uploadConversionAdjustments")
    restate, retract = request.body["conversionAdjustments"]
    assert restate["adjustmentType"] == "RESTATEMENT"
    assert restate["restatementValue"] == {"adjustedValue": 3000.0, "currencyCode": "EUR"}
    assert retract["adjustmentType"] == "RETRACTION" and "restatementValue" not in retract
    assert retract["orderId"] == "hubspot-123"
    assert answer["restate:d1:1"] is None
    assert answer["retract:d1"] == ("Conversion not found. "
                                    "(conversionAdjustmentUploadError=CONVERSION_NOT_FOUND)")


def test_microsoft_needs_msclkid_and_reads_partial_errors() -> None:
    clicked = won(name="Won deal", clicks=(Click("msclkid", "M1", CLICKED),))
    prepared = microsoft_ads.prepare([clicked, won(key="no")], {}, {}, NOW)

    (request,) = prepared.requests
    assert prepared.refused == {"no": "no msclkid click for this lead"}
    assert request.body == {"OfflineConversions": [{
        "MicrosoftClickId": "M1", "ConversionName": "Won deal",
        "ConversionTime": "2026-06-30T11:00:00Z", "ConversionValue": 5000.0,
        "ConversionCurrencyCode": "EUR"}]}
    assert microsoft_ads.read_answer(request, {"PartialErrors": [
        {"Index": 0, "Message": "The click id is invalid.", "ErrorCode": "InvalidMicrosoftClickId"}
    ]}) == {"won:d1": "The click id is invalid. (InvalidMicrosoftClickId)"}


def test_linkedin_user_ids_and_milliseconds() -> None:
    clicked = won(name="104012", clicks=(Click("li_fat_id", "df5gf5-gh6t7", CLICKED),))

    (request,) = linkedin.prepare([clicked], {}, {}, NOW).requests

    (element,) = request.body["elements"]
    assert element["conversion"] == "urn:lla:llaPartnerConversion:104012"
    assert element["conversionHappenedAt"] == int((NOW - dt.timedelta(hours=1)).timestamp()) * 1000
    assert element["user"]["userIds"] == [
        {"idType": "SHA256_EMAIL",
         "idValue": "542d240129883c019e106e3b1b2d3f3cb3537c43c425364de8e951d5a3083345"},
        {"idType": "LINKEDIN_FIRST_PARTY_ADS_TRACKING_UUID", "idValue": "df5gf5-gh6t7"}]
    assert element["conversionValue"] == {"currencyCode": "EUR", "amount": "5000.0"}
    assert element["eventId"] == "won:d1"
