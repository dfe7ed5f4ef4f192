"""Persons from CSV: csv_import.parse checks every row and reports each wrong one by its line in the file."""
import uuid

import pytest

from services.identity import csv_import

ORG = "0a000000-0000-4000-8000-00000000000a"
ENGINEERING = "a1000000-0000-4000-8000-0000000000a1"
HEADER = "email,first_name,middle_name,last_name,department,alternative_emails,validation_type,secret_id"
DEPARTMENTS = {"engineering": ENGINEERING}                  # names as the organization has them (any case)
TAKEN = {"taken@example.com"}                               # emails of persons already in the organization


def department_named(name):
    return DEPARTMENTS.get(name.casefold())


def emails_taken(emails):
    return {e.casefold() for e in emails} & TAKEN


def parse(*lines):
    return csv_import.parse("\n".join(lines) + "\n", ORG, department_named, emails_taken)


def errors_by_row(errors):
    return {e.row: e.errors for e in errors}


def test_the_documented_header_is_the_module_columns():
    assert HEADER == ",".join(csv_import.COLUMNS)


def test_a_good_file_gives_every_person_ready_to_create():
    rows, errors = parse(HEADER,
                         "ada@example.com,Ada,,Lovelace,Engineering,ada@old.example;  a.l@example.com ,high,s3cret-id",
                         "",                                                     # blank lines are skipped
                         "bob@example.com,Bob,T,Builder,,,,")
    assert errors == []
    assert rows == [
        {"organization_id": uuid.UUID(ORG), "department_id": uuid.UUID(ENGINEERING), "email": "ada@example.com",
         "first_name": "Ada", "middle_name": None, "last_name": "Lovelace",
         "alternative_emails": ["ada@old.example", "a.l@example.com"], "validation_type": "high",
         "secret_id": "s3cret-id"},
        {"organization_id": uuid.UUID(ORG), "department_id": None, "email": "bob@example.com",
         "first_name": "Bob", "middle_name": "T", "last_name": "Builder", "alternative_emails": [],
         "validation_type": "standard", "secret_id": None},
    ]


def test_department_names_match_in_any_case_and_cells_are_trimmed():
    rows, errors = parse(HEADER, " cy@example.com , Cy ,, Young , ENGINEERING ,,,")
    assert errors == []
    assert (rows[0]["email"], rows[0]["first_name"], rows[0]["department_id"]) == (
        "cy@example.com", "Cy", uuid.UUID(ENGINEERING))


def test_windows_line_endings_are_read():
    rows, errors = csv_import.parse(f"{HEADER}\r\nd@example.com,D,,E,,,,\r\n", ORG, department_named, emails_taken)
    assert errors == [] and [r["email"] for r in rows] == ["d@example.com"]


def test_quoted_cells_may_hold_commas():
    rows, errors = parse(HEADER, 'e@example.com,"Eve, Jr",,Doe,,"e1@example.com;e2@example.com",,')
    assert errors == []
    assert rows[0]["first_name"] == "Eve, Jr" and rows[0]["alternative_emails"] == ["e1@example.com",
                                                                                    "e2@example.com"]


@pytest.mark.parametrize("header", [
    "first_name,email,middle_name,last_name,department,alternative_emails,validation_type,secret_id",
    "Email,first_name,middle_name,last_name,department,alternative_emails,validation_type,secret_id",
    "mail,first_name,middle_name,last_name,department,alternative_emails,validation_type,secret_id",
    "email,first_name,middle_name,last_name,department,alternative_emails,validation_type",
    HEADER + ",notes",
    "ada@example.com,Ada,,Lovelace,,,,",                                           # no header at all
], ids=["order", "case", "name", "missing", "extra", "none"])
def test_a_wrong_header_is_an_error_on_line_1_and_nothing_is_read(header):
    rows, errors = parse(header, "ada@example.com,Ada,,Lovelace,,,,")
    assert rows == []
    assert [e.row for e in errors] == [1] and "header" in errors[0].errors


@pytest.mark.parametrize("line", ["f@example.com,F,,G,,,", "f@example.com,F,,G,,,,,", "f@example.com"],
                         ids=["7", "9", "1"])
def test_a_wrong_column_count_names_the_row(line):
    rows, errors = parse(HEADER, "ok@example.com,Ok,,Person,,,,", line)
    assert errors_by_row(errors) == {3: {"columns": [f"{line.count(',') + 1} columns, expected 8"]}}


@pytest.mark.parametrize("line,field", [
    ("not-an-email,A,,B,,,,", "email"),
    (",A,,B,,,,", "email"),
    ("a@example.com,,,B,,,,", "first_name"),
    ("a@example.com,A,,,,,,", "last_name"),
    ("a@example.com,A,,B,,no-at-sign,,", "alternative_emails"),
    ("a@example.com,A,,B,,,extreme,", "validation_type"),
    ("a@example.com,A,,B,,,,abc", "secret_id"),
    (f"a@example.com,{'A' * 65},,B,,,,", "first_name"),
])
def test_a_bad_cell_names_the_row_and_the_field(line, field):
    rows, errors = parse(HEADER, line)
    assert [e.row for e in errors] == [2] and field in errors[0].errors


def test_an_unknown_department_names_the_row():
    rows, errors = parse(HEADER, "ok@example.com,Ok,,Person,Engineering,,,", "h@example.com,H,,I,Marketing,,,")
    assert errors_by_row(errors) == {3: {"department": ["no department named 'Marketing' in the organization"]}}


def test_every_problem_of_a_row_is_reported_together():
    rows, errors = parse(HEADER, "bad,H,,I,Marketing,,weird,")
    assert set(errors_by_row(errors)[2]) == {"email", "department", "validation_type"}


def test_every_bad_row_is_reported_in_file_order():
    rows, errors = parse(HEADER, "bad,A,,B,,,,", "ok@example.com,Ok,,Person,,,,", "x@example.com,X,,Y,Nope,,,",
                         "too,few")
    assert [e.row for e in errors] == [2, 4, 5]


def test_an_email_twice_in_the_file_names_both_lines():
    rows, errors = parse(HEADER, "dup@example.com,A,,B,,,,", "other@example.com,C,,D,,,,", "DUP@example.com,E,,F,,,,")
    assert errors_by_row(errors) == {4: {"email": ["also on line 2"]}}


def test_an_email_three_times_points_each_repeat_at_the_first_line():
    rows, errors = parse(HEADER, "tri@example.com,A,,B,,,,", "tri@example.com,C,,D,,,,", "Tri@example.com,E,,F,,,,")
    assert errors_by_row(errors) == {3: {"email": ["also on line 2"]}, 4: {"email": ["also on line 2"]}}


def test_an_email_already_taken_in_the_organization_names_the_row():
    rows, errors = parse(HEADER, "new@example.com,A,,B,,,,", "Taken@Example.com,C,,D,,,,")
    assert errors_by_row(errors) == {3: {"email": ["a person with this email already exists in the organization"]}}


def test_an_empty_file_is_an_error_on_line_1():
    rows, errors = csv_import.parse("", ORG, department_named, emails_taken)
    assert rows == [] and [e.row for e in errors] == [1] and "file" in errors[0].errors


@pytest.mark.parametrize("text", [HEADER, HEADER + "\n", HEADER + "\n\n,,,,,,,\n"])
def test_a_header_without_rows_is_an_error(text):
    rows, errors = csv_import.parse(text, ORG, department_named, emails_taken)
    assert rows == [] and errors_by_row(errors) == {2: {"file": ["no rows after the header"]}}


def test_more_than_max_rows_is_refused_as_a_whole():
    lines = [f"p{i}@example.com,P,,Q,,,," for i in range(csv_import.MAX_ROWS + 1)]
    rows, errors = parse(HEADER, *lines)
    assert rows == []
    assert errors_by_row(errors) == {csv_import.MAX_ROWS + 2: {"file": ["more than 10000 rows; split the file"]}}


def test_exactly_max_rows_is_accepted(monkeypatch):
    monkeypatch.setattr(csv_import, "MAX_ROWS", 3)
    rows, errors = parse(HEADER, *[f"p{i}@example.com,P,,Q,,,," for i in range(3)])
    assert errors == [] and len(rows) == 3
    rows, errors = parse(HEADER, *[f"p{i}@example.com,P,,Q,,,," for i in range(4)])
    assert rows == [] and [e.row for e in errors] == [5]


@pytest.mark.parametrize("text", [
    "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00",                          # an image, decoded as text
    "PK\x03\x04\x14\x00\x06\x00\x08\x00",                                  # a zip (xlsx)
    "x" * 200_000,                                                         # one field over csv's limit
])
def test_a_file_that_is_not_csv_is_an_error_on_line_1(text):
    rows, errors = csv_import.parse(text, ORG, department_named, emails_taken)
    assert rows == [] and [e.row for e in errors] == [1]


def test_a_bare_carriage_return_ends_a_line_as_old_mac_files_do():
    rows, errors = csv_import.parse(f"{HEADER}\nok@example.com,Ok,,P,,,,\nbad\rline,,,,,,,\n", ORG, department_named,
                                    emails_taken)
    assert [r["email"] for r in rows] == ["ok@example.com"]
    assert [(e.row, sorted(e.errors)) for e in errors] == [(3, ["columns"]), (4, ["email", "first_name",
                                                                                 "last_name"])]


def test_a_row_after_a_multi_line_cell_is_named_by_its_line_in_the_file():
    # RowError.row is "the 1-based line number in the file"; a quoted cell may span lines (RFC 4180).
    rows, errors = parse(HEADER, 'a@example.com,A,"two\nlines",B,,,,', "bad,C,,D,,,,")
    assert 4 in errors_by_row(errors) and "email" in errors_by_row(errors)[4]


def test_alternative_emails_split_on_semicolons_and_drop_empties():
    rows, errors = parse(HEADER, "j@example.com,J,,K,,;j1@example.com;;j2@example.com;,,")
    assert errors == [] and rows[0]["alternative_emails"] == ["j1@example.com", "j2@example.com"]


def test_validation_type_defaults_to_standard():
    rows, errors = parse(HEADER, "k@example.com,K,,L,,,,", "m@example.com,M,,N,,,high,")
    assert [r["validation_type"] for r in rows] == ["standard", "high"]
