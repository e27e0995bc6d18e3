"""Salesforce Outbound Messages: SOAP 1.1 notifications for Opportunity and Lead.

Outbound Messages carry no signature (developer.salesforce.com, "Outbound Messaging"): a
delivery is accepted when its ``OrganizationId`` is the site's org (and, when the site set
one, when the URL's ``token`` matches). A message holds 1-100 notifications with the record's
*latest* field values; the sender retries until it receives the exact acknowledgement
:func:`acknowledgement` returns. XML with a DTD or entity declarations is refused before
parsing.

The REST API (``Authorization: Bearer <access token>`` on the org's instance URL):
:class:`OpportunityQuery` pulls Opportunities by ``SystemModstamp`` with a SOQL query and
follows ``nextRecordsUrl``. Imports the standard library, ``requests`` (through
:mod:`crm_sync.http`) and this package.
"""

from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from xml.parsers import expat

from crm_sync.errors import ApiError, PayloadInvalid, SignatureInvalid, SignatureReason
from crm_sync.events import MAX_EVENT_ID_LENGTH, ContactEvent, DealDraft, DealEvent
from crm_sync.http import ApiClient, Sleep
from crm_sync.providers import same_secret
from crm_sync.pull import Page, PulledDeal, pulled_event_id
from crm_sync.stages import status_for_stage
from crm_sync.values import (
    amount,
    as_object,
    boolean,
    check_size,
    currency,
    email,
    identifier,
    iso_datetime,
    load_json,
    optional_identifier,
    phone,
    text,
)

PROVIDER = "salesforce"
SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
OUTBOUND_NS = "http://soap.sforce.com/2005/09/outbound"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
ACK_CONTENT_TYPE = "text/xml; charset=utf-8"
MAX_NOTIFICATIONS = 100
# A custom field holding the LeadTrail lead id we pushed, on Lead or Opportunity.
LEAD_ID_FIELD = "LeadTrail_Lead_Id__c"
# The Opportunity has no contact email or phone of its own: orgs add formula or custom fields
# for them, which the API and Outbound Messages name with ``__c``.
CONTACT_EMAIL_FIELD = "ContactEmail__c"
CONTACT_PHONE_FIELD = "ContactPhone__c"
_API_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,79}$")


@dataclass(frozen=True, slots=True)
class OpportunityFields:
    """Which Opportunity fields (API names) hold the contact's email and phone and our lead
    id, each tried in order. The defaults are the ``__c`` names (and ``ContactEmail``, the
    name this reader used before); a site names its own with the ``salesforce_fields``
    setting (docs/crm.md)."""

    contact_email: tuple[str, ...] = (CONTACT_EMAIL_FIELD, "ContactEmail")
    contact_phone: tuple[str, ...] = (CONTACT_PHONE_FIELD,)
    lead_id: tuple[str, ...] = (LEAD_ID_FIELD,)

    @classmethod
    def named(cls, names: Mapping[str, str] | None) -> OpportunityFields:
        """The defaults with each of ``names`` (``contact_email``, ``contact_phone``,
        ``lead_id`` -> an API name) in place of its default. Raises ``ValueError``."""
        chosen = dict(names or {})
        unknown = set(chosen) - set(FIELD_ROLES)
        if unknown:
            raise ValueError(f"unknown Salesforce field roles {sorted(unknown)}")
        for name in chosen.values():
            if not _API_NAME.match(name):
                raise ValueError(f"{name!r} is not a Salesforce API name")
        defaults = cls()
        return cls(**{
            role: (chosen[role],) if role in chosen else getattr(defaults, role)
            for role in FIELD_ROLES
        })


FIELD_ROLES: tuple[str, ...] = ("contact_email", "contact_phone", "lead_id")


def _first(fields: Mapping[str, str | None], names: tuple[str, ...]) -> tuple[str, str | None]:
    """The first of ``names`` present in ``fields`` (name, value); the first name when none."""
    for name in names:
        if fields.get(name):
            return name, fields[name]
    return names[0], None

_ACK = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    f'<soapenv:Envelope xmlns:soapenv="{SOAP_NS}">'
    "<soapenv:Body>"
    f'<notificationsResponse xmlns="{OUTBOUND_NS}">'
    "<Ack>true</Ack>"
    "</notificationsResponse>"
    "</soapenv:Body>"
    "</soapenv:Envelope>"
).encode()


def acknowledgement() -> bytes:
    """The body Salesforce requires (HTTP 200, ``text/xml``) to stop re-sending a message:
    one ``<Ack>true</Ack>`` for the whole message."""
    return _ACK


_REFUSED = "XML with a DTD, entities or external references is refused"


def _refuse_declaration(*_args: object) -> None:
    raise PayloadInvalid(_REFUSED, field="body")


def _refuse_external_entity(*_args: object) -> int:
    raise PayloadInvalid(_REFUSED, field="body")


def parse_xml(body: bytes) -> ET.Element:
    """Parse ``body`` as XML after a first pass that refuses any DTD, entity declaration or
    external reference (no entity expansion, no network). Raises :class:`PayloadInvalid`."""
    check_size(body)
    guard = expat.ParserCreate()
    guard.StartDoctypeDeclHandler = _refuse_declaration
    guard.EntityDeclHandler = _refuse_declaration
    guard.UnparsedEntityDeclHandler = _refuse_declaration
    guard.ExternalEntityRefHandler = _refuse_external_entity
    try:
        guard.Parse(body, True)
    except expat.ExpatError as exc:
        raise PayloadInvalid(
            f"invalid XML: {expat.errors.messages[exc.code]}", field="body"
        ) from None
    return ET.fromstring(body)


def _notifications(root: ET.Element) -> ET.Element:
    if root.tag != f"{{{SOAP_NS}}}Envelope":
        raise PayloadInvalid("expected a SOAP 1.1 envelope", field="Envelope")
    found = root.find(f"{{{SOAP_NS}}}Body/{{{OUTBOUND_NS}}}notifications")
    if found is None:
        raise PayloadInvalid("expected Outbound Message notifications", field="Body.notifications")
    return found


def verify(
    body: bytes,
    *,
    org_id: str,
    token: str | None = None,
    expected_token: str | None = None,
) -> None:
    """Check that a message comes from the site's org: ``OrganizationId`` equals ``org_id``
    (15- and 18-character forms compare alike) and, when ``expected_token`` is set, the
    ``token`` query parameter of the URL matches it.

    Raises :class:`SignatureInvalid`: ``missing_signature`` (token expected, none given),
    ``bad_credentials`` (wrong token), ``malformed`` (no readable ``OrganizationId``),
    ``wrong_org`` (another org, or none configured); :class:`PayloadInvalid` for a DTD.
    """
    if expected_token:
        if not token:
            raise SignatureInvalid(SignatureReason.MISSING_SIGNATURE, "no token in the URL")
        if not same_secret(token, expected_token):
            raise SignatureInvalid(SignatureReason.BAD_CREDENTIALS, "wrong URL token")
    try:
        notifications = _notifications(parse_xml(body))
    except PayloadInvalid as exc:
        if exc.message == _REFUSED:
            raise
        raise SignatureInvalid(SignatureReason.MALFORMED, exc.message) from None
    org = notifications.findtext(f"{{{OUTBOUND_NS}}}OrganizationId")
    if not org or len(org.strip()) not in (15, 18):
        raise SignatureInvalid(SignatureReason.MALFORMED, "no OrganizationId")
    expected = org_id.strip()
    if len(expected) not in (15, 18) or not same_secret(org.strip()[:15], expected[:15]):
        raise SignatureInvalid(SignatureReason.WRONG_ORG, "OrganizationId is not the site's org")


def parse(
    body: bytes,
    *,
    now: dt.datetime,
    stage_map: Mapping[str, str] | None = None,
    fields: OpportunityFields = OpportunityFields(),
) -> list[DealEvent]:
    """One event per Opportunity notification, and per Lead notification of a converted lead
    (linking ``ConvertedOpportunityId`` to the lead's email and our lead id); other objects
    and unconverted leads give nothing.

    The event time is the record's ``LastModifiedDate`` (else ``SystemModstamp``, else ``now``;
    a message always holds the record's latest values, so the time it arrives orders it
    correctly too). Raises :class:`PayloadInvalid` naming the notification and field.
    """
    notifications = _notifications(parse_xml(body))
    items = notifications.findall(f"{{{OUTBOUND_NS}}}Notification")
    if len(items) > MAX_NOTIFICATIONS:
        raise PayloadInvalid(f"more than {MAX_NOTIFICATIONS} notifications", field="Notification")
    events: list[DealEvent] = []
    for index, item in enumerate(items):
        prefix = f"Notification.{index}"
        notification_id = identifier(
            item.findtext(f"{{{OUTBOUND_NS}}}Id"), f"{prefix}.Id", MAX_EVENT_ID_LENGTH
        )
        record = item.find(f"{{{OUTBOUND_NS}}}sObject")
        if record is None:
            raise PayloadInvalid("missing", field=f"{prefix}.sObject")
        kind = (record.get(f"{{{XSI_NS}}}type") or "").rpartition(":")[2]
        values = _fields(record)
        occurred_at = _modified_at(values, f"{prefix}.sObject", now)
        if kind == "Opportunity":
            events.append(
                _opportunity(
                    values, f"{prefix}.sObject", notification_id, occurred_at, stage_map, fields
                )
            )
        elif kind == "Lead":
            event = _converted_lead(values, f"{prefix}.sObject", notification_id, occurred_at)
            if event is not None:
                events.append(event)
    return events


def parse_contacts(body: bytes, *, now: dt.datetime) -> list[ContactEvent]:
    """One contact per Lead notification (converted or not): the Salesforce lead's email,
    phone and our lead id, so an opportunity converted from it finds its lead by the lead's
    id (``ConvertedOpportunityId``) even when the conversion's own message has no email.
    Raises :class:`PayloadInvalid` naming the notification and field."""
    notifications = _notifications(parse_xml(body))
    contacts: list[ContactEvent] = []
    for index, item in enumerate(notifications.findall(f"{{{OUTBOUND_NS}}}Notification")):
        prefix = f"Notification.{index}"
        record = item.find(f"{{{OUTBOUND_NS}}}sObject")
        kind = "" if record is None else (record.get(f"{{{XSI_NS}}}type") or "")
        if record is None or kind.rpartition(":")[2] != "Lead":
            continue
        values = _fields(record)
        address = email(values.get("Email"))
        number = phone(values.get("Phone"))
        contacts.append(
            ContactEvent(
                provider=PROVIDER,
                external_contact_id=identifier(values.get("Id"), f"{prefix}.sObject.Id"),
                provider_event_id=identifier(
                    item.findtext(f"{{{OUTBOUND_NS}}}Id"), f"{prefix}.Id", MAX_EVENT_ID_LENGTH
                ),
                occurred_at=_modified_at(values, f"{prefix}.sObject", now),
                contact_emails=(address,) if address else (),
                contact_phone=number,
                lead_id=optional_identifier(
                    values.get(LEAD_ID_FIELD), f"{prefix}.sObject.{LEAD_ID_FIELD}"
                ),
            )
        )
    return contacts


def _fields(record: ET.Element) -> dict[str, str | None]:
    """The record's fields by local name; ``xsi:nil`` fields are ``None``."""
    values: dict[str, str | None] = {}
    for child in record:
        name = child.tag.rpartition("}")[2]
        nil = child.get(f"{{{XSI_NS}}}nil") == "true"
        values[name] = None if nil else (child.text or "").strip()
    return values


def _modified_at(fields: Mapping[str, str | None], prefix: str, now: dt.datetime) -> dt.datetime:
    for name in ("LastModifiedDate", "SystemModstamp"):
        value = fields.get(name)
        if value:
            return iso_datetime(value, f"{prefix}.{name}")
    return now


def _opportunity(
    fields: Mapping[str, str | None],
    prefix: str,
    notification_id: str,
    occurred_at: dt.datetime,
    stage_map: Mapping[str, str] | None,
    names: OpportunityFields = OpportunityFields(),
) -> DealEvent:
    deal_id = identifier(fields.get("Id"), f"{prefix}.Id")
    draft = DealDraft()
    if "Name" in fields:
        draft.name = text(fields["Name"], f"{prefix}.Name")
    if "StageName" in fields:
        draft.stage = text(fields["StageName"], f"{prefix}.StageName")
    if "Amount" in fields:
        draft.amount = amount(fields["Amount"], f"{prefix}.Amount")
    if "CurrencyIsoCode" in fields:
        draft.currency = currency(fields["CurrencyIsoCode"], f"{prefix}.CurrencyIsoCode")
    if "CreatedDate" in fields:
        draft.created_at = _time(fields["CreatedDate"], f"{prefix}.CreatedDate")
    if "OwnerId" in fields:
        draft.owner = optional_identifier(fields["OwnerId"], f"{prefix}.OwnerId")
    if "ContactId" in fields:
        draft.external_contact_id = optional_identifier(fields["ContactId"], f"{prefix}.ContactId")
    address = email(_first(fields, names.contact_email)[1])
    if address:
        draft.contact_emails = (address,)
    number = phone(_first(fields, names.contact_phone)[1])
    if number:
        draft.contact_phone = number
    _read_status(draft, fields, prefix, stage_map)
    lead_field, lead_id = _first(fields, names.lead_id)
    return draft.event(
        PROVIDER,
        deal_id,
        notification_id,
        occurred_at,
        lead_id=optional_identifier(lead_id, f"{prefix}.{lead_field}"),
    )


def _read_status(
    draft: DealDraft,
    fields: Mapping[str, str | None],
    prefix: str,
    stage_map: Mapping[str, str] | None,
) -> None:
    """Status from ``IsWon``/``IsClosed`` (derived by Salesforce from the stage's definition,
    so better than its label), else from the stage name; ``CloseDate`` only once closed."""
    won = _flag(fields, "IsWon", prefix)
    closed = _flag(fields, "IsClosed", prefix)
    implied = status_for_stage(PROVIDER, draft.stage, stage_map) if "StageName" in fields else None
    if won:
        draft.status = "won"
    elif closed:
        # Closed and not won is lost; without IsWon, a stage known as won still wins.
        draft.status = "won" if won is None and implied == "won" else "lost"
    elif closed is False:
        draft.status = "open"
    elif implied is not None and not (won is False and implied == "won"):
        draft.status = implied
    if "status" not in draft.carried:
        return
    if draft.status == "open":
        draft.closed_at = None
    elif "CloseDate" in fields:
        draft.closed_at = _time(fields["CloseDate"], f"{prefix}.CloseDate")


def _converted_lead(
    fields: Mapping[str, str | None],
    prefix: str,
    notification_id: str,
    occurred_at: dt.datetime,
) -> DealEvent | None:
    """A converted lead links its opportunity to the person: the lead's email and phone, our
    lead id, and the Salesforce lead id it came from."""
    if not _flag(fields, "IsConverted", prefix):
        return None
    opportunity = optional_identifier(
        fields.get("ConvertedOpportunityId"), f"{prefix}.ConvertedOpportunityId"
    )
    if opportunity is None:  # converted without creating an opportunity
        return None
    draft = DealDraft()
    address = email(fields.get("Email"))
    if address:
        draft.contact_emails = (address,)
    number = phone(fields.get("Phone"))
    if number:
        draft.contact_phone = number
    return draft.event(
        PROVIDER,
        opportunity,
        notification_id,
        occurred_at,
        lead_id=optional_identifier(fields.get(LEAD_ID_FIELD), f"{prefix}.{LEAD_ID_FIELD}"),
        converted_from_lead_id=optional_identifier(fields.get("Id"), f"{prefix}.Id"),
    )


def _flag(fields: Mapping[str, str | None], name: str, prefix: str) -> bool | None:
    value = fields.get(name)
    return None if value is None else boolean(value, f"{prefix}.{name}")


def _time(value: str | None, field: str) -> dt.datetime | None:
    """``CloseDate`` is a date (midnight UTC here); ``CreatedDate`` a date-time with ``Z``."""
    return None if not value else iso_datetime(value, field)


# --- REST API ------------------------------------------------------------------------------

API_VERSION = "v62.0"
OPPORTUNITY_FIELDS: tuple[str, ...] = (
    "Id",
    "Name",
    "StageName",
    "Amount",
    "IsClosed",
    "IsWon",
    "CloseDate",
    "CreatedDate",
    "OwnerId",
    "LastModifiedDate",
    "SystemModstamp",
)
CONTACT_ROLES = "OpportunityContactRoles"


def api_client(instance_url: str, token: str, *, sleep: Sleep, timeout: float = 30.0) -> ApiClient:
    """A client for an access token on the org's instance URL (``https://….my.salesforce.com``)."""
    return ApiClient(
        instance_url, {"Authorization": f"Bearer {token}"}, sleep=sleep, timeout=timeout
    )


def soql_datetime(moment: dt.datetime) -> str:
    """A SOQL date-time literal (unquoted, UTC, whole seconds)."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def opportunity_query(since: dt.datetime | None, custom_fields: tuple[str, ...] = ()) -> str:
    """Opportunities modified at or after ``since``, oldest first, with their contact roles
    (primary first) for the contact's email, and the site's named ``custom_fields`` (only
    those: a field the org lacks fails the whole query)."""
    roles = (
        "(SELECT ContactId, Contact.Email, Contact.Phone, IsPrimary "
        f"FROM {CONTACT_ROLES} ORDER BY IsPrimary DESC)"
    )
    where = "" if since is None else f" WHERE SystemModstamp >= {soql_datetime(since)}"
    selected = ", ".join(dict.fromkeys((*OPPORTUNITY_FIELDS, *custom_fields)))
    return (
        f"SELECT {selected}, {roles} FROM Opportunity{where} "
        "ORDER BY SystemModstamp ASC, Id ASC"
    )


class OpportunityQuery:
    """:class:`~crm_sync.pull.DealSource` over a SOQL query, oldest change first."""

    provider = PROVIDER

    def __init__(
        self,
        client: ApiClient,
        api_version: str = API_VERSION,
        stage_map: Mapping[str, str] | None = None,
        field_names: Mapping[str, str] | None = None,
    ) -> None:
        self.client = client
        self.api_version = api_version
        self.stage_map = stage_map
        # The site's salesforce_fields: selected, and read before the contact roles' email.
        self.field_names = dict(field_names or {})

    def fetch(self, since: dt.datetime | None, cursor: str | None) -> Page:
        if cursor is None:
            path = f"/services/data/{self.api_version}/query"
            query = opportunity_query(since, tuple(sorted(set(self.field_names.values()))))
            answer = self.client.request("GET", path, params={"q": query})
        else:
            answer = self.client.request("GET", cursor)
        records = answer.get("records")
        if not isinstance(records, list):
            raise ApiError(None, "the answer has no 'records' list", retryable=False)
        deals = tuple(
            pulled_deal(record, self.stage_map, self.field_names)
            for record in records
            if isinstance(record, dict)
        )
        following = answer.get("nextRecordsUrl")
        more = answer.get("done") is False and isinstance(following, str) and following
        total = answer.get("totalSize")
        return Page(
            deals=deals,
            cursor=following if more and isinstance(following, str) else None,
            total=total if isinstance(total, int) else None,
        )


def _record_fields(record: Mapping[str, object]) -> dict[str, str | None]:
    """A REST record's fields as the strings an Outbound Message carries, plus the first
    contact role's ``ContactId`` and ``ContactEmail``."""
    values: dict[str, str | None] = {}
    for name, value in record.items():
        if name in ("attributes", CONTACT_ROLES) or isinstance(value, dict | list):
            continue
        if value is None:
            values[name] = None
        elif isinstance(value, bool):
            values[name] = "true" if value else "false"
        else:
            values[name] = str(value)
    roles = record.get(CONTACT_ROLES)
    rows = roles.get("records") if isinstance(roles, dict) else None
    for row in rows if isinstance(rows, list) else []:
        contact = row.get("Contact") if isinstance(row, dict) else None
        address = email(contact.get("Email")) if isinstance(contact, dict) else None
        if address:
            values["ContactId"] = str(row.get("ContactId") or "") or None
            values["ContactEmail"] = address
            break
    return values


def pulled_deal(
    record: Mapping[str, object],
    stage_map: Mapping[str, str] | None,
    field_names: Mapping[str, str] | None = None,
) -> PulledDeal:
    """An Opportunity record as the full state of the deal at its ``LastModifiedDate``,
    checkpointed by ``SystemModstamp``: the contact's email from the site's named field
    (``field_names``, as in ``salesforce_fields``), else its primary contact role. Raises
    :class:`PayloadInvalid` naming the field."""
    fields = _record_fields(record)
    deal_id = identifier(fields.get("Id"), "Id")
    stamp = fields.get("SystemModstamp")
    if not stamp:
        raise PayloadInvalid("missing", field="SystemModstamp")
    modified_at = iso_datetime(stamp, "SystemModstamp")
    occurred_at = _modified_at(fields, "record", modified_at)
    event_id = pulled_event_id(deal_id, modified_at)
    names = OpportunityFields.named(field_names)
    # _record_fields puts the primary contact role's email under ``ContactEmail``.
    configured = (field_names or {}).get("contact_email")
    names = OpportunityFields(
        contact_email=(configured, "ContactEmail") if configured else ("ContactEmail",),
        contact_phone=names.contact_phone,
        lead_id=names.lead_id,
    )
    event = _opportunity(fields, "record", event_id, occurred_at, stage_map, names)
    return PulledDeal(record=record, event=event, modified_at=modified_at)


def parse_record(
    body: bytes,
    *,
    stage_map: Mapping[str, str] | None = None,
    field_names: Mapping[str, str] | None = None,
) -> list[DealEvent]:
    """The event of a pulled record as the inbox stored it (:meth:`PulledDeal.body`)."""
    return [pulled_deal(as_object(load_json(body), "body"), stage_map, field_names).event]
