"""CSV for people who open it in a spreadsheet: every export goes through :func:`write_csv`,
which neutralises cells a spreadsheet would run as a formula.

OWASP's CSV injection rule: a text cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a
carriage return is prefixed with a single quote, so Excel, LibreOffice and Google Sheets show
it as text instead of evaluating it (a campaign named ``=HYPERLINK(…)`` arrives from any UTM
link). Numbers stay numbers: a negative ROI is a figure, not a formula. Ground floor:
imports nothing of tracker.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

# https://owasp.org/www-community/attacks/CSV_Injection
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise_cell(value: object) -> object:
    """``value``, with a leading ``'`` when it is text a spreadsheet would take as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def write_csv(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A CSV document (CRLF line ends, RFC 4180) of ``header`` and ``rows``; ``None`` is an
    empty cell, and every text cell is neutralised."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([neutralise_cell(name) for name in header])
    for row in rows:
        writer.writerow(["" if value is None else neutralise_cell(value) for value in row])
    return buffer.getvalue()
