"""The one CSV writer neutralises formula-leading text cells (OWASP) and nothing else."""

from __future__ import annotations

import csv
import io

import pytest

from tracker.csv_export import neutralise_cell, write_csv


@pytest.mark.parametrize(
    ("cell", "written"),
    [
        ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
        ("+1+2", "'+1+2"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tcmd", "'\tcmd"),
        ("\rcmd", "'\rcmd"),
        ("brand", "brand"),
        ("a=b", "a=b"),
        ("", ""),
        (-12.5, -12.5),
        (-3, -3),
        (None, None),
    ],
)
def test_a_cell_is_neutralised_only_when_it_is_formula_text(cell: object, written: object) -> None:
    assert neutralise_cell(cell) == written


def test_write_csv_neutralises_every_text_cell_and_keeps_numbers() -> None:
    text = write_csv(["group", "roi"], [["=1+1", -0.5], ["Email", None]])

    assert list(csv.reader(io.StringIO(text))) == [
        ["group", "roi"], ["'=1+1", "-0.5"], ["Email", ""]]
    assert text.endswith("\r\n")
