"""Code-signing invitations from CSV (SCM: "CSV import of users: four mandatory and two optional fields"): the
format and the row-by-row check into a report. Pure: no I/O; what needs the read models comes in as functions.

Format (RFC 4180 CSV, UTF-8, a header naming exactly these columns in this order):

    email,first_name,last_name,term_days,middle_name,department

The first four are required; middle_name and department (a department *name* of the organization) may be empty.
term_days must be one of the profile's terms. At most MAX_ROWS rows, no email twice. All or nothing, as the
persons' import (services/identity/csv_import.py): every row is checked first, and one wrong row means nothing is
invited and the report names each wrong row and why.
"""
from __future__ import annotations

import csv
import io
from typing import Callable

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from contracts.common import text

COLUMNS = ("email", "first_name", "last_name", "term_days", "middle_name", "department")
REQUIRED = COLUMNS[:4]
MAX_ROWS = 1000


class _Row(Schema):
    class Meta:
        unknown = RAISE

    email = fields.Email(required=True, validate=validate.Length(max=254))
    first_name = text(64, required=True)
    last_name = text(64, required=True)
    term_days = fields.Integer(required=True, validate=validate.Range(min=1, max=3650))
    middle_name = text(64, allow_none=True, load_default=None)
    department = text(64, allow_none=True, load_default=None)


def parse(content: str, terms: list[int], department_named: Callable[[str], str | None],
          refused_emails: Callable[[list[str]], dict[str, str]]) -> tuple[list[dict], list[dict]]:
    """(rows ready to invite: {email, first_name, last_name, middle_name, department_id, term_days}, errors:
    [{row, errors}]). `department_named(name)`: the department's id or None; `refused_emails(emails)`: {email:
    why} for those outside the domains delegated for code signing."""
    reader = csv.reader(io.StringIO(content, newline=""))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        return [], [{"row": 1, "errors": {"file": ["empty: the first line must be the header"]}}]
    except csv.Error as exc:
        return [], [{"row": 1, "errors": {"file": [f"not CSV: {exc}"]}}]
    if tuple(header) != COLUMNS:
        return [], [{"row": 1, "errors": {"header": [f"must be exactly: {','.join(COLUMNS)} (the first four "
                                                     "required)"]}}]
    rows, errors, seen = [], [], {}
    try:
        for line, cells in enumerate(reader, start=2):
            if not any(c.strip() for c in cells):
                continue
            if len(rows) + len(errors) >= MAX_ROWS:
                errors.append({"row": line, "errors": {"file": [f"at most {MAX_ROWS} rows"]}})
                break
            row, problems = _row(cells, terms, department_named)
            if row is not None and row["email"].lower() in seen:
                problems = {"email": [f"repeats row {seen[row['email'].lower()]}"]}
            if problems:
                errors.append({"row": line, "errors": problems})
            else:
                seen[row["email"].lower()] = line
                rows.append({**row, "line": line})
    except csv.Error as exc:
        errors.append({"row": reader.line_num, "errors": {"file": [f"not CSV: {exc}"]}})
    if rows and not errors:
        refused = refused_emails([r["email"] for r in rows])
        errors = [{"row": r["line"], "errors": {"email": [refused[r["email"]]]}} for r in rows if r["email"] in refused]
    return ([{k: v for k, v in r.items() if k != "line"} for r in rows] if not errors else []), errors


def _row(cells: list[str], terms: list[int], department_named) -> tuple[dict | None, dict]:
    if len(cells) != len(COLUMNS):
        return None, {"row": [f"{len(cells)} fields, expected {len(COLUMNS)}"]}
    values = {name: cell.strip() for name, cell in zip(COLUMNS, cells)}
    missing = {name: ["required"] for name in REQUIRED if not values[name]}
    if missing:
        return None, missing
    try:
        loaded = _Row().load({k: (v or None) for k, v in values.items()})
    except ValidationError as exc:
        return None, exc.messages_dict
    if loaded["term_days"] not in terms:
        return None, {"term_days": [f"{loaded['term_days']}: not one of the profile's terms "
                                    f"({', '.join(map(str, terms))})"]}
    department_id = None
    if loaded["department"]:
        department_id = department_named(loaded["department"])
        if department_id is None:
            return None, {"department": [f"{loaded['department']!r}: no such department in the organization"]}
    return {"email": loaded["email"], "first_name": loaded["first_name"], "last_name": loaded["last_name"],
            "middle_name": loaded["middle_name"], "department_id": department_id,
            "term_days": loaded["term_days"]}, {}
