"""The two renderings of a report: JSON (rows, totals, the query echoed) and CSV (a header
line, one line per row, then the totals line when the report has totals).

Numbers are rounded by column kind (money to cents, counts and ratios to 4 places); an
undefined figure is ``null`` in JSON and an empty cell in CSV, never 0.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from flask import Response, jsonify

from tracker.csv_export import write_csv
from tracker.localtime import iso_utc
from tracker.reports.queries import Column, Report

DECIMALS = {"money": 2, "count": 4, "percent": 4, "ratio": 6, "days": 4}
TOTAL_LABEL = "(total)"


def format_value(value: Any, kind: str) -> Any:
    """A value as JSON shows it: rounded numbers, ISO times, None kept."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return iso_utc(value)
    if kind == "integer":
        return int(value)
    if kind in DECIMALS:
        return round(float(value), DECIMALS[kind])
    return value


def _row(row: Mapping[str, Any], columns: tuple[Column, ...]) -> dict[str, Any]:
    return {column.name: format_value(row.get(column.name), column.kind) for column in columns}


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return format_value(value, "text")


def report_json(report: Report) -> dict[str, Any]:
    body: dict[str, Any] = {"report": report.name, **_plain(report.meta)}
    body["columns"] = [{"name": c.name, "kind": c.kind} for c in report.columns]
    body["rows"] = [_row(row, report.columns) for row in report.rows]
    if report.totals is not None:
        columns = tuple(c for c in report.columns if c.name in report.totals)
        body["totals"] = _row(report.totals, columns)
    return body


def report_csv(report: Report) -> str:
    """The report as CSV through the one export writer (formula cells neutralised)."""
    lines = [_row(row, report.columns) for row in report.rows]
    if report.totals is not None:
        first = report.columns[0].name
        lines.append(_row({first: TOTAL_LABEL, **report.totals}, report.columns))
    return write_csv([column.name for column in report.columns],
                     (list(line.values()) for line in lines))


def respond(report: Report, output: str) -> Response:
    """The HTTP response for ``output`` (``json`` or ``csv``)."""
    if output == "csv":
        return Response(
            report_csv(report),
            mimetype="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{report.name}.csv"'},
        )
    return jsonify(report_json(report))
