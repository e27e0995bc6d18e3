"""Salesforce Outbound Messages: org and token checks, safe XML, Opportunity and converted Lead
notifications, and the exact acknowledgement."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from decimal import Decimal

import pytest

from crm_sync.errors import PayloadInvalid, SignatureInvalid, SignatureReason
from crm_sync.providers import salesforce

ORG = "00D000000000001AAA"
NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def envelope(*notifications: str, org: str = ORG) -> bytes:
    """An Outbound Message as Salesforce sends it (protocols.md §2.1 skeleton)."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"
                  xmlns:xsd="http://www.w3.org/2001/XMLSchema"
                  xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
 <soapenv:Body>
  <notifications xmlns="http://soap.sforce.com/2005/09/outbound">
   <OrganizationId>{org}</OrganizationId>
   <ActionId>04k000000000001AAA</ActionId>
   <SessionId xsi:nil="true"/>
   <EnterpriseUrl>https://acme.my.salesforce.com/services/Soap/c/67.0/00D000000000001</EnterpriseUrl>
   <PartnerUrl>https://acme.my.salesforce.com/services/Soap/u/67.0/00D000000000001</PartnerUrl>
   {"".join(notifications)}
  </notifications>
 </soapenv:Body>
</soapenv:Envelope>""".encode()


def notification(notification_id: str, kind: str, fields: str) -> str:
    return f"""<Notification>
    <Id>{notification_id}</Id>
    <sObject xsi:type="sf:{kind}" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">
     {fields}
    </sObject>
   </Notification>"""


WON_OPPORTUNITY = notification(
    "04l000000000001AAA",
    "Opportunity",
    """<sf:Id>006000000000001AAA</sf:Id>
     <sf:Amount>50000.0</sf:Amount>
     <sf:CloseDate>2025-06-30</sf:CloseDate>
     <sf:CreatedDate>2025-05-01T08:30:00.000Z</sf:CreatedDate>
     <sf:CurrencyIsoCode>EUR</sf:CurrencyIsoCode>
     <sf:IsClosed>true</sf:IsClosed>
     <sf:IsWon>true</sf:IsWon>
     <sf:LastModifiedDate>2025-06-30T15:04:05.000Z</sf:LastModifiedDate>
     <sf:Name>Acme - 500 seats</sf:Name>
     <sf:OwnerId>005000000000001AAA</sf:OwnerId>
     <sf:StageName>Closed Won</sf:StageName>
     <sf:ContactEmail>Buyer@Acme.example</sf:ContactEmail>""",
)


def test_the_acknowledgement_is_the_envelope_salesforce_requires() -> None:
    root = ET.fromstring(salesforce.acknowledgement())

    ack = root.find(
        "{http://schemas.xmlsoap.org/soap/envelope/}Body"
        "/{http://soap.sforce.com/2005/09/outbound}notificationsResponse"
        "/{http://soap.sforce.com/2005/09/outbound}Ack"
    )
    assert root.tag == "{http://schemas.xmlsoap.org/soap/envelope/}Envelope"
    assert ack is not None and ack.text == "true"
    assert salesforce.ACK_CONTENT_TYPE.startswith("text/xml")


@pytest.mark.parametrize("configured", [ORG, ORG[:15]])
def test_a_message_from_the_sites_org_is_accepted(configured: str) -> None:
    salesforce.verify(envelope(WON_OPPORTUNITY), org_id=configured)


@pytest.mark.parametrize(
    ("body", "arguments", "reason"),
    [
        (envelope(WON_OPPORTUNITY, org="00D000000000002AAA"), {}, SignatureReason.WRONG_ORG),
        (envelope(WON_OPPORTUNITY), {"org_id": ""}, SignatureReason.WRONG_ORG),
        (envelope(WON_OPPORTUNITY, org=""), {}, SignatureReason.MALFORMED),
        (b"<html>hi</html>", {}, SignatureReason.MALFORMED),
        (b"not xml at all", {}, SignatureReason.MALFORMED),
        (envelope(WON_OPPORTUNITY), {"expected_token": "t0ken"}, SignatureReason.MISSING_SIGNATURE),
        (
            envelope(WON_OPPORTUNITY),
            {"expected_token": "t0ken", "token": "guess"},
            SignatureReason.BAD_CREDENTIALS,
        ),
    ],
)
def test_messages_not_proven_to_be_the_sites_are_refused(
    body: bytes, arguments: dict[str, str], reason: SignatureReason
) -> None:
    with pytest.raises(SignatureInvalid) as refused:
        salesforce.verify(body, **{"org_id": ORG, **arguments})
    assert refused.value.reason is reason


def test_the_url_token_is_accepted_when_it_matches() -> None:
    salesforce.verify(envelope(WON_OPPORTUNITY), org_id=ORG, expected_token="t0ken", token="t0ken")


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
]>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">&lol2;</soapenv:Envelope>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">&xxe;</soapenv:Envelope>"""


@pytest.mark.parametrize("body", [BILLION_LAUGHS, EXTERNAL_ENTITY])
def test_xml_with_a_dtd_or_entities_is_refused_before_anything_is_expanded(body: bytes) -> None:
    with pytest.raises(PayloadInvalid) as refused:
        salesforce.parse(body, now=NOW)
    with pytest.raises(PayloadInvalid):
        salesforce.verify(body, org_id=ORG)
    assert refused.value.field == "body" and "DTD" in refused.value.message


def test_an_undeclared_entity_is_invalid_xml() -> None:
    with pytest.raises(PayloadInvalid, match="undefined entity"):
        salesforce.parse(b"<a>&xxe;</a>", now=NOW)


def test_a_won_opportunity_gives_its_deal_state() -> None:
    (event,) = salesforce.parse(envelope(WON_OPPORTUNITY), now=NOW)

    assert (event.provider, event.external_deal_id) == ("salesforce", "006000000000001AAA")
    assert event.provider_event_id == "04l000000000001AAA"
    assert event.occurred_at == dt.datetime(2025, 6, 30, 15, 4, 5, tzinfo=dt.UTC)
    assert event.values() == {
        "amount": Decimal("50000.0"),
        "closed_at": dt.datetime(2025, 6, 30, tzinfo=dt.UTC),
        "contact_emails": ("buyer@acme.example",),
        "created_at": dt.datetime(2025, 5, 1, 8, 30, tzinfo=dt.UTC),
        "currency": "EUR",
        "name": "Acme - 500 seats",
        "owner": "005000000000001AAA",
        "stage": "Closed Won",
        "status": "won",
    }


@pytest.mark.parametrize(
    ("fields", "status", "closed"),
    [
        ("<sf:IsClosed>true</sf:IsClosed><sf:IsWon>false</sf:IsWon>", "lost", True),
        ("<sf:IsClosed>false</sf:IsClosed><sf:IsWon>false</sf:IsWon>", "open", False),
        ("<sf:StageName>Negotiation/Review</sf:StageName>", "open", False),
        ("<sf:StageName>Closed Lost</sf:StageName>", "lost", True),
        ("<sf:StageName>Our Own Stage</sf:StageName>", None, False),
    ],
)
def test_status_comes_from_is_won_and_is_closed_else_from_the_stage(
    fields: str, status: str | None, closed: bool
) -> None:
    body = envelope(
        notification(
            "04l1",
            "Opportunity",
            f"<sf:Id>0061</sf:Id><sf:CloseDate>2025-06-30</sf:CloseDate>{fields}",
        )
    )

    (event,) = salesforce.parse(body, now=NOW)

    assert event.status == status
    assert (event.closed_at is not None) is closed


def test_a_site_stage_map_knows_custom_stage_names() -> None:
    body = envelope(
        notification(
            "04l1", "Opportunity", "<sf:Id>0061</sf:Id><sf:StageName>Signed</sf:StageName>"
        )
    )

    (event,) = salesforce.parse(body, now=NOW, stage_map={"Signed": "customer"})

    assert event.status == "won"


def test_nil_fields_clear_and_absent_fields_are_not_carried() -> None:
    body = envelope(
        notification("04l1", "Opportunity", '<sf:Id>0061</sf:Id><sf:Amount xsi:nil="true"/>')
    )

    (event,) = salesforce.parse(body, now=NOW)

    assert event.values() == {"amount": None}
    assert event.occurred_at == NOW  # no LastModifiedDate: the time it arrived


def test_a_converted_lead_links_its_opportunity_to_the_person() -> None:
    lead = notification(
        "04l2",
        "Lead",
        """<sf:Id>00Q000000000001AAA</sf:Id>
         <sf:Email>Ada@Example.com</sf:Email>
         <sf:Phone>+44 20 7946 0958</sf:Phone>
         <sf:IsConverted>true</sf:IsConverted>
         <sf:ConvertedOpportunityId>006000000000001AAA</sf:ConvertedOpportunityId>
         <sf:LeadTrail_Lead_Id__c>6f1c2b9e-8a43-4a52-9d0e-3c8e1f2a7b64</sf:LeadTrail_Lead_Id__c>
         <sf:LastModifiedDate>2025-05-01T08:30:00.000Z</sf:LastModifiedDate>""",
    )
    unconverted = notification(
        "04l3",
        "Lead",
        "<sf:Id>00Q2</sf:Id><sf:Email>b@example.com</sf:Email><sf:IsConverted>false</sf:IsConverted>",
    )

    (event,) = salesforce.parse(envelope(lead, unconverted), now=NOW)

    assert event.external_deal_id == "006000000000001AAA"
    assert event.converted_from_lead_id == "00Q000000000001AAA"
    assert event.lead_id == "6f1c2b9e-8a43-4a52-9d0e-3c8e1f2a7b64"
    assert event.values() == {
        "contact_emails": ("ada@example.com",),
        "contact_phone": "+44 20 7946 0958",
    }


def test_a_message_gives_one_event_per_opportunity_notification() -> None:
    second = WON_OPPORTUNITY.replace("04l000000000001AAA", "04l000000000002AAA").replace(
        "006000000000001AAA", "006000000000002AAA"
    )
    account = notification("04l9", "Account", "<sf:Id>001000000000001AAA</sf:Id>")

    events = salesforce.parse(envelope(WON_OPPORTUNITY, account, second), now=NOW)

    assert [event.external_deal_id for event in events] == [
        "006000000000001AAA",
        "006000000000002AAA",
    ]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"<a/>", "Envelope"),
        (
            b'<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Body/></e:Envelope>',
            "Body.notifications",
        ),
        (
            envelope(notification("04l1", "Opportunity", "<sf:Name>x</sf:Name>")),
            "Notification.0.sObject.Id",
        ),
        (
            envelope(
                notification("04l1", "Opportunity", "<sf:Id>1</sf:Id><sf:IsWon>yes</sf:IsWon>")
            ),
            "Notification.0.sObject.IsWon",
        ),
        (
            envelope(
                notification("04l1", "Opportunity", "<sf:Id>1</sf:Id><sf:Amount>1e</sf:Amount>")
            ),
            "Notification.0.sObject.Amount",
        ),
        (
            envelope(
                notification(
                    "04l1",
                    "Opportunity",
                    "<sf:Id>1</sf:Id><sf:LastModifiedDate>noon</sf:LastModifiedDate>",
                )
            ),
            "Notification.0.sObject.LastModifiedDate",
        ),
    ],
)
def test_malformed_messages_are_refused_naming_the_field(body: bytes, field: str) -> None:
    with pytest.raises(PayloadInvalid) as refused:
        salesforce.parse(body, now=NOW)
    assert refused.value.field == field


def test_every_lead_notification_reports_its_lead_record() -> None:
    body = envelope(
        notification(
            "04l000000000009AAA",
            "Lead",
            """<sf:Id>00Q000000000002AAA</sf:Id><sf:Email>Ada@Example.com</sf:Email>
            <sf:Phone>+44 20 7946 0000</sf:Phone><sf:IsConverted>false</sf:IsConverted>
            <sf:LeadTrail_Lead_Id__c>5f0c3a52-0000-4000-8000-000000000001</sf:LeadTrail_Lead_Id__c>
            <sf:LastModifiedDate>2025-06-01T08:00:00.000Z</sf:LastModifiedDate>""",
        ),
        WON_OPPORTUNITY,
    )

    (contact,) = salesforce.parse_contacts(body, now=NOW)

    assert (contact.external_contact_id, contact.contact_emails, contact.contact_phone) == (
        "00Q000000000002AAA", ("ada@example.com",), "+44 20 7946 0000"
    )
    assert contact.lead_id == "5f0c3a52-0000-4000-8000-000000000001"
    assert contact.occurred_at == dt.datetime(2025, 6, 1, 8, tzinfo=dt.UTC)
    assert salesforce.parse(body, now=NOW)[0].external_deal_id == "006000000000001AAA"


@pytest.mark.parametrize(
    ("names", "field"),
    [
        (None, "ContactEmail__c"),
        (None, "ContactEmail"),
        ({"contact_email": "Buyer_Email__c"}, "Buyer_Email__c"),
    ],
)
def test_the_contact_email_comes_from_the_sites_opportunity_field(
    names: dict[str, str] | None, field: str
) -> None:
    body = envelope(
        notification(
            "04l000000000010AAA",
            "Opportunity",
            f"""<sf:Id>006000000000002AAA</sf:Id><sf:{field}>ada@example.com</sf:{field}>
            <sf:ContactPhone__c>+44 20 7946 0000</sf:ContactPhone__c>""",
        )
    )

    (event,) = salesforce.parse(body, now=NOW, fields=salesforce.OpportunityFields.named(names))

    assert event.contact_emails == ("ada@example.com",)
    assert event.contact_phone == "+44 20 7946 0000"


@pytest.mark.parametrize("names", [{"contact_email": "Email Field"}, {"owner": "Owner__c"}])
def test_bad_field_names_are_refused(names: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        salesforce.OpportunityFields.named(names)
