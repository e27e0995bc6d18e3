"""Ad-spend import: CSV or JSON rows → validated costs in the site's currency.

* Errors name the row and the column (``rows.3.amount``) and import nothing.
* Re-importing replaces: a cost's key is (day, channel, source, medium, campaign, keyword),
  so the same file twice gives the same totals. Rows of one file with the same key add up.
* Amounts in another currency convert with the row's ``exchange_rate`` or, when absent, the
  site's newest exchange rate valid on that day.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import io
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.db import dialect_insert
from tracker.errors import ValidationError
from tracker.models import Cost, ExchangeRate
from tracker.validation import check_text, parse_date

COLUMNS = (
    "date",
    "channel",
    "source",
    "medium",
    "campaign",
    "keyword",
    "amount",
    "currency",
    "exchange_rate",
    "impressions",
    "clicks",
)
# Delivery counts are optional: a row without them leaves them unknown (the report's
# impressions, clicks, CTR and CPC show "—"), not zero.
COUNT_COLUMNS = ("impressions", "clicks")
MAX_COUNT = 10**15
MAX_ROWS = 100_000
# A cost file's largest size: room for MAX_ROWS rows of ordinary length. The API and the
# dashboard raise their body limit to it (plus a multipart envelope); 1 MiB stays elsewhere.
MAX_UPLOAD_BYTES = 10 * 1_048_576
MAX_ERRORS = 50
MAX_IMPORT_NAME_LENGTH = 200
TEXT_LIMITS = {"channel": 40, "source": 200, "medium": 200, "campaign": 200, "keyword": 200}
_CENTS = decimal.Decimal("0.0001")
# Money columns are Numeric(16, 4) and rates Numeric(18, 8): larger numbers fail in the
# database (PostgreSQL) or come back changed (SQLite), so they are refused as input.
MAX_ABS_NUMBER = decimal.Decimal(10) ** 12
MAX_RATE = decimal.Decimal(10) ** 10


class CostImportError(ValidationError):
    """Every problem found, each naming its row and column; nothing was imported."""

    def __init__(self, problems: Sequence[tuple[str, str]]) -> None:
        field, message = problems[0]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(message + more, field=field)
        self.problems = list(problems)


class CostRowsRefused(CostImportError):
    """Rows, each well formed, that the import refuses together (422): a currency without an
    exchange rate on that day, a day's total out of range."""

    status = 422


@dataclass(frozen=True, slots=True)
class CostRow:
    day: dt.date
    channel: str
    source: str
    medium: str
    campaign: str
    keyword: str
    amount: decimal.Decimal
    currency: str
    exchange_rate: decimal.Decimal | None
    impressions: int | None = None
    clicks: int | None = None

    @property
    def key(self) -> tuple[dt.date, str, str, str, str, str]:
        return (self.day, self.channel, self.source, self.medium, self.campaign, self.keyword)


def _decimal(
    raw: str, low: decimal.Decimal | None = None, high: decimal.Decimal = MAX_ABS_NUMBER
) -> decimal.Decimal:
    try:
        value = decimal.Decimal(raw.replace(",", "").strip())
    except decimal.InvalidOperation:
        raise ValueError("expected a number such as 1234.56") from None
    if not value.is_finite() or (low is not None and value <= low):
        raise ValueError("expected a positive number" if low is not None else "expected a number")
    if abs(value) >= high:
        raise ValueError(f"expected a number below {high:,}")
    return value


def _row(
    raw: Mapping[str, Any], number: int, site_currency: str, problems: list[tuple[str, str]]
) -> CostRow | None:
    where = f"rows.{number}"
    values: dict[str, Any] = {}
    for column in COLUMNS:
        value = raw.get(column)
        if isinstance(value, float) and value.is_integer():  # 12.0 is a JSON integer too
            value = int(value)
        values[column] = "" if value is None else str(value).strip()
    found_before = len(problems)

    def problem(column: str, message: str) -> None:
        problems.append((f"{where}.{column}", message))

    for column, value in values.items():
        try:
            check_text(value, column)
        except ValidationError as error:
            problem(column, error.message)
    try:
        day = parse_date(values["date"], "date")
    except ValidationError as error:
        problem("date", error.message)
    if not values["channel"] and not values["source"]:
        problem("channel", "give a channel (e.g. Paid Search) or at least a source")
    for column, limit in TEXT_LIMITS.items():
        if len(values[column]) > limit:
            problem(column, f"longer than {limit} characters")
    try:
        amount = _decimal(values["amount"])
    except ValueError as exc:
        problem("amount", str(exc))
    currency = (values["currency"] or site_currency).upper()
    if len(currency) != 3 or not currency.isalpha():
        problem("currency", "expected a three-letter currency code such as EUR")
    rate = None
    if values["exchange_rate"]:
        try:
            rate = _decimal(values["exchange_rate"], low=decimal.Decimal(0), high=MAX_RATE)
        except ValueError as exc:
            problem("exchange_rate", str(exc))
    counts: dict[str, int | None] = {}
    for column in COUNT_COLUMNS:
        try:
            counts[column] = _count(values[column])
        except ValueError as exc:
            problem(column, str(exc))
    if len(problems) > found_before:
        return None
    return CostRow(
        day,
        values["channel"] or "Unassigned",
        values["source"],
        values["medium"],
        values["campaign"],
        values["keyword"],
        amount,
        currency,
        rate,
        counts["impressions"],
        counts["clicks"],
    )


def _count(raw: str) -> int | None:
    """An optional whole count: '' is unknown (None), else 0 or more."""
    if not raw:
        return None
    cleaned = raw.replace(",", "")
    if not cleaned.isascii() or not cleaned.isdigit():
        raise ValueError("expected a whole number of 0 or more, or nothing when unknown")
    value = int(cleaned)
    if value >= MAX_COUNT:
        raise ValueError(f"expected a number below {MAX_COUNT:,}")
    return value


def _add_count(known: int | None, more: int | None) -> int | None:
    return more if known is None else known if more is None else known + more


def parse_cost_rows(rows: Iterable[Mapping[str, Any]], site_currency: str) -> list[CostRow]:
    problems: list[tuple[str, str]] = []
    parsed = []
    for number, raw in enumerate(rows, start=1):
        if number > MAX_ROWS:
            raise CostImportError([("rows", f"more than {MAX_ROWS} rows; split the file")])
        unknown = [key for key in raw if key not in COLUMNS]
        if unknown:
            problems.append(
                (f"rows.{number}.{unknown[0]}", f"unknown column; expected {', '.join(COLUMNS)}")
            )
            continue
        row = _row(raw, number, site_currency, problems)
        if row is not None:
            parsed.append(row)
        if len(problems) >= MAX_ERRORS:
            break
    if problems:
        raise CostImportError(problems)
    if not parsed:
        raise CostImportError([("rows", "no cost rows")])
    return parsed


def parse_cost_csv(text: str, site_currency: str) -> list[CostRow]:
    """Rows of a CSV with a header line; column names are case-insensitive. Row numbers in
    errors count data rows from 1 (the header is row 0)."""
    try:
        lines = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    except csv.Error as error:  # a cell over the csv module's field size limit
        raise CostImportError([("file", f"not a readable CSV file: {error}")]) from None
    if not lines:
        raise CostImportError([("rows", "empty file")])
    header = [name.strip().lower() for name in lines[0]]
    for index, name in enumerate(header):
        if name not in COLUMNS:
            raise CostImportError(
                [(f"header.{name or index}", f"unknown column; expected {', '.join(COLUMNS)}")]
            )
    for required in ("date", "amount"):
        if required not in header:
            raise CostImportError([(f"header.{required}", "required column missing")])
    return parse_cost_rows(
        (dict(zip(header, line, strict=False)) for line in lines[1:] if any(line)), site_currency
    )


def load_exchange_rates(
    session: Session, site_id: int
) -> dict[str, list[tuple[dt.date, decimal.Decimal]]]:
    table: dict[str, list[tuple[dt.date, decimal.Decimal]]] = {}
    for rate in session.scalars(
        select(ExchangeRate)
        .where(ExchangeRate.site_id == site_id)
        .order_by(ExchangeRate.valid_from)
    ):
        table.setdefault(rate.currency, []).append((rate.valid_from, rate.rate))
    return table


def rate_on(
    history: list[tuple[dt.date, decimal.Decimal]], day: dt.date
) -> decimal.Decimal | None:
    """The newest rate of ``history`` (oldest first) valid on ``day``, or None."""
    found = None
    for valid_from, rate in history:
        if valid_from <= day:
            found = rate
    return found


@dataclass(frozen=True, slots=True)
class Imported:
    rows: int
    total_site_currency: decimal.Decimal


def import_costs(
    session: Session,
    site_id: int,
    site_currency: str,
    rows: Sequence[CostRow],
    now: dt.datetime,
    name: str | None = None,
) -> Imported:
    """Convert and upsert ``rows`` (all or nothing, in the caller's transaction)."""
    rates = load_exchange_rates(session, site_id)
    merged: dict[tuple[Any, ...], dict[str, Any]] = {}
    problems = []
    for number, row in enumerate(rows, start=1):
        rate = row.exchange_rate
        if row.currency == site_currency:
            rate = decimal.Decimal(1)
        elif rate is None:
            rate = rate_on(rates.get(row.currency, []), row.day)
        if rate is None:
            problems.append(
                (
                    f"rows.{number}.currency",
                    f"no exchange rate from {row.currency} to {site_currency} on {row.day}; "
                    "add an exchange_rate column or a rate",
                )
            )
            continue
        entry = merged.setdefault(
            row.key,
            {
                "site_id": site_id,
                "id": uuid.uuid4(),
                "day": row.day,
                "channel": row.channel,
                "source": row.source,
                "medium": row.medium,
                "campaign": row.campaign,
                "keyword": row.keyword,
                "amount": decimal.Decimal(0),
                "currency": row.currency,
                "amount_site": decimal.Decimal(0),
                "impressions": None,
                "clicks": None,
                "imported_at": now,
                "import_name": name,
            },
        )
        converted = (row.amount * rate).quantize(_CENTS)
        if entry["currency"] != row.currency:
            # One key, several currencies: the row can only hold one, so keep site currency
            # (the unique key has no currency; two rows would collide in one upsert).
            entry["currency"], entry["amount"] = site_currency, entry["amount_site"]
        entry["amount"] += row.amount if entry["currency"] == row.currency else converted
        entry["amount_site"] += converted
        for column in COUNT_COLUMNS:
            entry[column] = _add_count(entry[column], getattr(row, column))
        if max(abs(entry["amount"]), abs(entry["amount_site"])) >= MAX_ABS_NUMBER:
            problems.append(
                (f"rows.{number}.amount", f"the day's total reaches {MAX_ABS_NUMBER:,}")
            )
    if problems:
        raise CostRowsRefused(problems[:MAX_ERRORS])
    values = list(merged.values())
    statement = dialect_insert(session, Cost.__table__)  # type: ignore[arg-type]
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[
                "site_id", "origin", "day", "channel", "source", "medium", "campaign", "keyword"
            ],
            set_={
                column: statement.excluded[column]
                for column in ("amount", "currency", "amount_site", "impressions", "clicks",
                               "imported_at", "import_name")
            },
        ),
        values,
    )
    return Imported(
        rows=len(values),
        total_site_currency=sum((v["amount_site"] for v in values), decimal.Decimal(0)),
    )


def set_exchange_rate(session: Session, site_id: int, data: Mapping[str, Any]) -> ExchangeRate:
    for key in data:
        if key not in {"currency", "valid_from", "rate"}:
            raise ValidationError("unknown field", field=key)
    currency = str(data.get("currency") or "").upper()
    if len(currency) != 3 or not currency.isalpha():
        raise ValidationError("expected a three-letter currency code such as EUR", field="currency")
    valid_from = parse_date(str(data.get("valid_from")), "valid_from")
    try:
        rate = _decimal(str(data.get("rate")), low=decimal.Decimal(0), high=MAX_RATE)
    except ValueError as exc:
        raise ValidationError(str(exc), field="rate") from None
    record = session.get(ExchangeRate, (site_id, currency, valid_from))
    if record is None:
        record = ExchangeRate(site_id=site_id, currency=currency, valid_from=valid_from, rate=rate)
        session.add(record)
    record.rate = rate
    session.flush()
    return record


def list_costs(
    session: Session, site_id: int, start: dt.date | None, end: dt.date | None
) -> list[Cost]:
    query = select(Cost).where(Cost.site_id == site_id)
    if start:
        query = query.where(Cost.day >= start)
    if end:
        query = query.where(Cost.day < end)
    return list(session.scalars(query.order_by(Cost.day, Cost.channel, Cost.campaign)))
