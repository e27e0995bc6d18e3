"""The costs API (secret key): import spend as CSV or JSON, list it, set exchange rates."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, Response, jsonify, request

from tracker.accounts.auth import site_from_api_key
from tracker.costs import service as costs
from tracker.db import get_session, write_session
from tracker.errors import ValidationError
from tracker.guards import json_object_body, limit_body, read_upload
from tracker.models.base import utcnow
from tracker.sites.settings import site_settings
from tracker.validation import check_parameters, load_json, parse_date

bp = Blueprint("costs", __name__, url_prefix="/api/v1")


def _rows_from_request(currency: str) -> list[costs.CostRow]:
    if request.mimetype in {"text/csv", "text/plain"}:
        return costs.parse_cost_csv(request.get_data(as_text=True), currency)
    if "file" in request.files:
        upload = read_upload(request.files["file"], costs.MAX_UPLOAD_BYTES, "file")
        return costs.parse_cost_csv(upload.decode("utf-8-sig"), currency)
    if "file" in request.form:  # the CSV as a plain form field (no filename)
        return costs.parse_cost_csv(request.form["file"], currency)
    body = request.get_data()
    data = load_json(body, check_values=False) if body else None
    if not isinstance(data, dict) or not isinstance(data.get("rows"), list):
        raise ValidationError(
            "send text/csv, a multipart 'file', or JSON {\"rows\": [...]}", field="rows"
        )
    if not all(isinstance(row, dict) for row in data["rows"]):
        raise ValidationError("every row must be an object", field="rows")
    return costs.parse_cost_rows(data["rows"], currency)


def _import_name() -> str | None:
    name = request.args.get("name")
    if name is not None and len(name) > costs.MAX_IMPORT_NAME_LENGTH:
        raise ValidationError(f"at most {costs.MAX_IMPORT_NAME_LENGTH} characters", field="name")
    return name


def _day(name: str) -> dt.date | None:
    raw = request.args.get(name)
    return None if raw is None else parse_date(raw, name)


@bp.post("/costs")
@limit_body(costs.MAX_UPLOAD_BYTES, upload_field="file")
def import_costs() -> tuple[Response, int]:
    site = site_from_api_key()
    check_parameters(request.args, ("name",))
    currency = site_settings(site).currency
    rows = _rows_from_request(currency)
    name = _import_name()
    with write_session() as session:
        done = costs.import_costs(session, site.id, currency, rows, utcnow(), name)
    return jsonify(imported=done.rows, total=str(done.total_site_currency), currency=currency), 201


@bp.get("/costs")
def list_costs() -> Response:
    site = site_from_api_key()
    check_parameters(request.args, ("from", "to"))
    found = costs.list_costs(get_session(), site.id, _day("from"), _day("to"))
    return jsonify(
        costs=[
            {
                "date": c.day.isoformat(),
                "channel": c.channel,
                "source": c.source,
                "medium": c.medium,
                "campaign": c.campaign,
                "keyword": c.keyword,
                "amount": str(c.amount),
                "currency": c.currency,
                "amount_site_currency": str(c.amount_site),
                # "" for imported rows; "<platform>:<account>" for pulled ones.
                "origin": c.origin,
                "impressions": c.impressions,
                "clicks": c.clicks,
            }
            for c in found
        ]
    )


@bp.post("/exchange-rates")
def set_rate() -> tuple[Response, int]:
    site = site_from_api_key()
    data = json_object_body()
    with write_session() as session:
        rate = costs.set_exchange_rate(session, site.id, data)
        body = {
            "currency": rate.currency,
            "valid_from": rate.valid_from.isoformat(),
            "rate": str(rate.rate),
        }
    return jsonify(body), 201
