"""``POST /identify``: a form submit or ``leadtrail('identify', …)`` turns the visitor into a
lead. The event goes through the collector like any other (sessionized, deduplicated), then
the visitor is stitched to the lead and the lead rescored, all in one transaction; the answer
comes after it, and a retry with the same event id changes nothing."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from tracker.collect.parsing import Batch, parse_batch
from tracker.collect.service import PreparedBatch, store_batches
from tracker.db import transaction
from tracker.destinations.formats.ga4 import client_id_from_ga_cookie
from tracker.errors import ValidationError
from tracker.leads.identity import Identity, parse_identity, stitch_visitor_to_lead
from tracker.leads.scoring import rescore_active_leads, rescore_lead
from tracker.models import Lead

_IDENTITY_KEYS = ("email", "name", "phone", "company")
_FORM_KEYS = frozenset({"id", "name", "action"})
_BATCH_KEYS = ("k", "vid", "sent_at", "consent")


# The ad platforms' browser cookies the snippet forwards (``_ga``, ``_fbp``, ``_fbc``).
_AD_ID_KEYS = frozenset({"ga", "fbp", "fbc"})
_FB_COOKIE = re.compile(r"^fb\.\d\.\d{10,13}\.[A-Za-z0-9_\-.]{1,180}$")
MAX_AD_ID_LENGTH = 200


@dataclass(frozen=True, slots=True)
class IdentifyRequest:
    batch: Batch
    identity: Identity
    ad_ids: Mapping[str, str] = field(default_factory=dict)


def _ad_ids(raw: Any) -> dict[str, str]:
    """``{ga_client_id, fbp, fbc}`` from the forwarded cookies; a malformed one is refused."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ValidationError("expected an object", field="ad_ids")
    found = {}
    for key, value in raw.items():
        if key not in _AD_ID_KEYS:
            raise ValidationError("unknown field", field=f"ad_ids.{key}")
        if not isinstance(value, str) or len(value) > MAX_AD_ID_LENGTH:
            raise ValidationError("expected a cookie value", field=f"ad_ids.{key}")
        if key == "ga":
            client_id = client_id_from_ga_cookie(value)
            if client_id is None:
                raise ValidationError(
                    "expected a _ga cookie (GA1.1.<id>.<time>)", field="ad_ids.ga"
                )
            found["ga_client_id"] = client_id
        elif not _FB_COOKIE.match(value):
            raise ValidationError("expected fb.<n>.<time>.<id>", field=f"ad_ids.{key}")
        else:
            found[key] = value
    return found


def _form_props(raw: Any) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ValidationError("expected an object", field="form")
    props = {}
    for key, value in raw.items():
        if key not in _FORM_KEYS:
            raise ValidationError("unknown field", field=f"form.{key}")
        if value is not None and (not isinstance(value, str) or len(value) > 200):
            raise ValidationError(
                "expected a string of at most 200 characters", field=f"form.{key}"
            )
        if value:
            props[f"form_{key}"] = value
    return props


def parse_identify(
    data: Mapping[str, Any], now: dt.datetime, query_key: str | None
) -> IdentifyRequest:
    """Split an identify body into the event (for the collector) and the contact details.

    Contact details never reach the events table: only the form's id, name and action do.
    """
    allowed = {*_BATCH_KEYS, *_IDENTITY_KEYS, "id", "ts", "url", "ref", "title", "form",
               "ad_ids"}
    for key in data:
        if key not in allowed:
            raise ValidationError("unknown field", field=key)
    identity = parse_identity({key: data.get(key) for key in _IDENTITY_KEYS})
    props = _form_props(data.get("form"))
    event = {
        "id": data.get("id"),
        "type": "form_submit" if props else "identify",
        "ts": data.get("ts"),
        "url": data.get("url"),
        "ref": data.get("ref"),
        "title": data.get("title"),
        "props": props,
    }
    body = {key: data[key] for key in _BATCH_KEYS if key in data}
    body["events"] = [{k: v for k, v in event.items() if v is not None}]
    return IdentifyRequest(batch=parse_batch(body, now, query_key), identity=identity,
                           ad_ids=_ad_ids(data.get("ad_ids")))


def store_identify(
    engine: Engine,
    prepared: PreparedBatch,
    request: IdentifyRequest,
    now: dt.datetime,
    keep_bots: bool = False,
) -> None:
    """Store the event, link the visitor to the lead and rescore it, in one transaction: a
    request that fails anywhere leaves nothing behind (no event without its lead), and a
    retry with the same event id changes nothing."""
    site = prepared.site
    event = request.batch.events[0]
    with transaction(engine) as session:
        active = store_batches(session.connection(), [prepared], keep_bots)
        if prepared.device.is_bot:
            return
        stitched = stitch_visitor_to_lead(
            session,
            site.id,
            request.batch.visitor_id,
            request.identity,
            event.occurred_at,
            cause="form" if event.type == "form_submit" else "identify",
            # The collector just read the visitor's links in this transaction.
            unlinked=not active.get(site.id),
        )
        if request.ad_ids:
            stitched.lead.ad_ids = {**(stitched.lead.ad_ids or {}), **request.ad_ids}
        rules = site.settings.scoring_rules
        rescore_lead(session, stitched.lead, rules, site.settings.mql_threshold, now,
                     stitched.sessions, new_lead=stitched.created)
        # Leads whose sessions this identify took (a late one, or a shared computer).
        for previous_id in stitched.previous_lead_ids:
            previous = session.get(Lead, (site.id, previous_id))
            if previous is not None:
                rescore_lead(session, previous, rules, site.settings.mql_threshold, now)
    # Any other lead of the visitor's (none, unless the collector saw one this stitch did
    # not touch) is rescored as after any collector write.
    rescore_active_leads(engine, [prepared], active,
                         rescored={stitched.lead.id, *stitched.previous_lead_ids})
