"""CRM webhooks, ``POST /webhooks/<provider>/<site_id>`` (the inbox API that re-applies
failed deliveries is in ``tracker.crm.views``).

Order (warehouse ``integrations/secrets/views.py``): known provider and site → signature or
credentials verified (a forged request stores nothing) → body parsed → raw body stored in
``crm_events`` and committed → acknowledged → applied. The acknowledgement does not depend on
the apply: a failed apply stays in the inbox with its error, for ``leadtrail crm replay`` or
``POST /api/v1/crm/events/replay``. Formats and checks live in ``crm_sync``.
"""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, Response, jsonify, request
from sqlalchemy.orm import Session

import crm_sync.errors as crm_errors
from crm_sync.events import PROVIDERS, DealEvent
from crm_sync.providers import generic, hubspot, pipedrive, salesforce
from crm_sync.values import MAX_BODY_BYTES
from tracker.crm import inbox
from tracker.db import get_engine, write_session
from tracker.errors import NotFound, SignatureInvalid, ValidationError
from tracker.guards import limit_body
from tracker.models import Site
from tracker.models.base import utcnow
from tracker.sites.settings import SiteSettings, site_settings
from tracker.validation import check_json_depth, check_record

bp = Blueprint("webhooks", __name__)

# Kept with the body for operators; never Authorization (Pipedrive's password) nor the URL's
# query (Salesforce's token).
STORED_HEADERS = ("Content-Type", "User-Agent", hubspot.TIMESTAMP_HEADER)
# Where each provider's proof sits, named in the error's ``field``.
PROOF_FIELDS = {
    "hubspot": hubspot.SIGNATURE_HEADER,
    "pipedrive": pipedrive.AUTHORIZATION_HEADER,
    "salesforce": "OrganizationId",
    "generic": generic.SIGNATURE_HEADER,
}
_REASON_STATUS = {
    crm_errors.SignatureReason.WRONG_ORG: 403,
    crm_errors.SignatureReason.MALFORMED: 400,
}


@bp.post("/webhooks/<provider>/<int:site_id>")
@limit_body(MAX_BODY_BYTES)
def receive(provider: str, site_id: int) -> Response:
    """Verify, store, acknowledge, apply one CRM delivery."""
    body = request.get_data(cache=True)
    received_at = utcnow()
    settings = _configured_settings(provider, site_id)
    events = verified_events(provider, settings, body, received_at)
    with write_session() as session:
        stored = inbox.store_delivery(
            session, site_id, provider, body, events, _kept_headers(), received_at
        )
    response = _acknowledgement(provider, stored, len(events))
    if stored.status != inbox.APPLIED:
        inbox.apply_stored(get_engine(), site_id, stored.id)
    return response


def _configured_settings(provider: str, site_id: int) -> SiteSettings:
    if provider not in PROVIDERS:
        raise NotFound(f"no CRM provider {provider!r}", field="provider")
    with Session(get_engine()) as session:
        site = session.get(Site, site_id)
        settings = site_settings(site) if site is not None else None
    if settings is None:
        raise NotFound(f"no site {site_id}", field="site_id")
    configured = {
        "hubspot": bool(settings.hubspot_secrets),
        "pipedrive": bool(settings.pipedrive_username and settings.pipedrive_password),
        "salesforce": bool(settings.salesforce_org_id),
        "generic": bool(settings.generic_secrets),
    }
    if not configured[provider]:
        raise NotFound(f"{provider} webhooks are not set up for this site", field="provider")
    return settings


def verified_events(
    provider: str, settings: SiteSettings, body: bytes, received_at: dt.datetime
) -> list[DealEvent]:
    """The delivery's events once its proof of origin is checked; the ``crm_sync`` errors
    become :class:`SignatureInvalid` (with its reason) and :class:`ValidationError`."""
    try:
        _verify(provider, settings, body, received_at)
        if provider != "salesforce":  # the others send JSON
            check_json_depth(body)
        events = inbox.parse_delivery(provider, settings, body, received_at)
        contacts = inbox.parse_contacts(provider, body, received_at)
    except crm_errors.SignatureInvalid as error:
        raise _signature_error(provider, error) from None
    except crm_errors.PayloadInvalid as error:
        raise ValidationError(error.message, field=error.field) from None
    # Everything the apply will read is read now: a delivery is acknowledged only if it can
    # apply (every value fits its column; a bad lead id, like a NUL, is refused before
    # anything is stored).
    for event in events:
        check_record(event)
        inbox.to_update(event, settings.crm_stage_maps)
    for contact in contacts:
        inbox.to_contact_update(contact)
    return events


def _verify(provider: str, settings: SiteSettings, body: bytes, now: dt.datetime) -> None:
    headers = request.headers
    if provider == "hubspot":
        hubspot.verify(
            secrets=settings.hubspot_secrets,
            method=request.method,
            uri=request.url,
            body=body,
            signature=headers.get(hubspot.SIGNATURE_HEADER),
            timestamp=headers.get(hubspot.TIMESTAMP_HEADER),
            now=now,
        )
    elif provider == "pipedrive":
        pipedrive.verify(
            authorization=headers.get(pipedrive.AUTHORIZATION_HEADER),
            username=settings.pipedrive_username or "",
            password=settings.pipedrive_password or "",
        )
    elif provider == "salesforce":
        salesforce.verify(
            body,
            org_id=settings.salesforce_org_id or "",
            token=request.args.get("token"),
            expected_token=settings.salesforce_token,
        )
    else:
        # Tools that copy Stripe's scheme may keep Stripe's header name.
        header = headers.get(generic.SIGNATURE_HEADER) or headers.get("Stripe-Signature")
        generic.verify(body, header, secrets=settings.generic_secrets, now=now)


def _signature_error(provider: str, error: crm_errors.SignatureInvalid) -> SignatureInvalid:
    refused = SignatureInvalid(error.reason)
    refused.status = _REASON_STATUS.get(error.reason, 401)
    refused.field = PROOF_FIELDS[provider]
    if provider == "salesforce" and error.reason in {
        crm_errors.SignatureReason.MISSING_SIGNATURE,
        crm_errors.SignatureReason.BAD_CREDENTIALS,
    }:
        refused.field = "token"
    if provider == "hubspot" and error.reason is crm_errors.SignatureReason.STALE_TIMESTAMP:
        refused.field = hubspot.TIMESTAMP_HEADER
    return refused


def _kept_headers() -> dict[str, str]:
    kept = {name: request.headers[name] for name in STORED_HEADERS if name in request.headers}
    kept["path"] = request.path
    return kept


def _acknowledgement(provider: str, stored: inbox.Stored, events: int) -> Response:
    if provider == "salesforce":  # the sender re-sends until it reads exactly this
        return Response(salesforce.acknowledgement(), 200, content_type=salesforce.ACK_CONTENT_TYPE)
    return jsonify(received=True, id=str(stored.id), duplicate=stored.duplicate, events=events)
