"""Persons from CSV: the documented format, and row-by-row validation into a report. Pure: no I/O.

Format (RFC 4180 CSV, UTF-8, a header row naming exactly these columns in this order):

    email,first_name,middle_name,last_name,department,alternative_emails,validation_type,secret_id

email, first_name and last_name are required; department is a department *name* of the organization imported
into (empty: none); alternative_emails are separated by ";"; validation_type is standard (default) or high;
secret_id is optional. At most MAX_ROWS rows.

An import is all-or-nothing: every row is checked first, and if any row is wrong nothing is stored and the report
names each wrong row and why. Row-by-row import would leave the administrator to work out which rows went in and
to edit the file so the next upload does not collide with them; with all-or-nothing they fix the reported rows and
upload the same file again.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Callable

from marshmallow import ValidationError

from contracts.identity import PersonFieldsV1

COLUMNS = ("email", "first_name", "middle_name", "last_name", "department", "alternative_emails",
           "validation_type", "secret_id")
MAX_ROWS = 10_000


@dataclass(frozen=True)
class RowError:
    row: int            # 1-based line number in the file (the header is line 1)
    errors: dict

    def to_dict(self) -> dict:
        return {"row": self.row, "errors": self.errors}


def parse(text: str, organization_id: str, department_named: Callable[[str], str | None],
          emails_taken: Callable[[list[str]], set[str]],
          department_required: bool = False) -> tuple[list[dict], list[RowError]]:
    """(persons' fields ready for CreatePerson, errors). Errors empty means every row is good.
    `department_required`: the importer manages persons only in some departments (a DRAO), so every row must
    name one of them."""
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        return [], [RowError(1, {"file": ["empty: the first line must be the header"]})]
    except csv.Error as exc:
        return [], [RowError(1, {"file": [f"not CSV: {exc}"]})]
    if tuple(h.strip() for h in header) != COLUMNS:
        return [], [RowError(1, {"header": [f"must be exactly: {','.join(COLUMNS)}"]})]
    schema = PersonFieldsV1()
    rows: list[tuple[int, dict]] = []
    errors: list[RowError] = []
    try:
        while True:
            line = reader.line_num + 1            # where this record starts (a quoted cell may span lines)
            cells = next(reader, None)
            if cells is None:
                break
            if not any(c.strip() for c in cells):
                continue
            if len(rows) + len(errors) >= MAX_ROWS:
                return [], [RowError(line, {"file": [f"more than {MAX_ROWS} rows; split the file"]})]
            if len(cells) != len(COLUMNS):
                errors.append(RowError(line, {"columns": [f"{len(cells)} columns, expected {len(COLUMNS)}"]}))
                continue
            record = dict(zip(COLUMNS, (c.strip() for c in cells)))
            fields = {"organization_id": organization_id, "email": record["email"],
                      "first_name": record["first_name"], "last_name": record["last_name"],
                      "middle_name": record["middle_name"] or None,
                      "alternative_emails": [e.strip() for e in record["alternative_emails"].split(";") if e.strip()],
                      "validation_type": record["validation_type"] or "standard",
                      "secret_id": record["secret_id"] or None}
            problems: dict = {}
            if record["department"]:
                department_id = department_named(record["department"])
                if department_id is None:
                    problems["department"] = [f"no department named {record['department']!r} in the organization"]
                fields["department_id"] = department_id
            elif department_required:
                problems["department"] = ["required: you manage persons only in your departments"]
            try:
                loaded = schema.load(fields)
            except ValidationError as exc:
                problems.update(exc.messages_dict)
                loaded = None
            if problems:
                errors.append(RowError(line, problems))
            else:
                rows.append((line, loaded))
    except csv.Error as exc:
        return [], [RowError(reader.line_num, {"file": [f"not CSV: {exc}"]})]
    seen: dict[str, int] = {}
    for line, loaded in rows:
        key = loaded["email"].casefold()
        if key in seen:
            errors.append(RowError(line, {"email": [f"also on line {seen[key]}"]}))
        seen.setdefault(key, line)
    taken = emails_taken([loaded["email"] for _, loaded in rows])
    errors += [RowError(line, {"email": ["a person with this email already exists in the organization"]})
               for line, loaded in rows if loaded["email"].casefold() in taken]
    if not rows and not errors:
        errors.append(RowError(2, {"file": ["no rows after the header"]}))
    return [loaded for _, loaded in rows], sorted(errors, key=lambda e: e.row)
