"""CSV that leaves Certplane for a spreadsheet: every cell goes through `safe_cell`, so a value a user typed
(an organization or person name, a SAN, a comment) is shown as text, never run as a formula (CSV injection;
OWASP's rule: a cell that begins with =, +, -, @, tab or carriage return gets a leading apostrophe). What comes in
(the persons import, services/identity/csv_import.py) keeps the text as typed; only what goes out is changed."""
from __future__ import annotations

import csv
import io
from collections.abc import Iterable

MIMETYPE = "text/csv"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value) -> str:
    """A value as CSV cell text a spreadsheet shows as it is: None is empty; a text beginning with one of
    FORMULA_STARTS is prefixed with `'`. Numbers are written as numbers (a negative one, "-5", is no formula but
    is prefixed as well: the rule looks at the text, as a spreadsheet does)."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_bytes(header: Iterable[str], rows: Iterable[Iterable]) -> bytes:
    """The header and rows as a text/csv body (RFC 4180: CRLF line ends, quotes where needed, UTF-8), every cell
    through `safe_cell`, the header included."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([safe_cell(name) for name in header])
    writer.writerows([safe_cell(value) for value in row] for row in rows)
    return out.getvalue().encode("utf-8")
