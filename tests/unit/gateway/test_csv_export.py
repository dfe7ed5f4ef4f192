"""CSV that goes out to a spreadsheet shows what users typed as text, never as a formula (gateway/csv_export.py)."""
import csv
import io

import pytest

from gateway.csv_export import csv_bytes, safe_cell


@pytest.mark.parametrize("typed", ["=HYPERLINK(\"http://evil\",\"x\")", "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)",
                                   "\tindent", "\r=1", "=", "-"])
def test_a_cell_a_spreadsheet_would_run_gets_an_apostrophe(typed):
    assert safe_cell(typed) == "'" + typed


@pytest.mark.parametrize("typed", ["Example Org", "a=b", "mail@example.com", " =1", "'=1", "", "1.5", "café"])
def test_other_cells_are_written_as_typed(typed):
    assert safe_cell(typed) == typed


def test_values_that_are_not_text():
    assert safe_cell(None) == "" and safe_cell(90) == "90" and safe_cell(-5) == "'-5" and safe_cell(True) == "True"


def test_every_cell_of_the_file_goes_through_the_rule_and_reads_back():
    body = csv_bytes(["name", "=header"], [["=1+1", 'quote " and, comma'], ["line\nbreak", None], ["@x", 7]])
    assert body.startswith(b"name,'=header\r\n")
    rows = list(csv.reader(io.StringIO(body.decode("utf-8"))))
    assert rows == [["name", "'=header"], ["'=1+1", 'quote " and, comma'], ["line\nbreak", ""], ["'@x", "7"]]
    assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for row in rows for cell in row)
