import dataclasses
import re

import pytest

from gemmbench.result import (
    COLUMNS,
    SCHEMA_VERSION,
    Measurement,
    ResultsFileError,
    ResultWriter,
    read_results,
    sidecar_path,
)
from tests_support import make_row


def _row(**kw):
    return make_row(**{"host": "h", "libs": '{"a": "1"}', **kw})


def test_round_trip_preserves_every_field(tmp_path):
    path = tmp_path / "r.csv"
    rows = [_row(), _row(m=7, status="skipped", reason="no, because", median_s=None, gflops=None)]
    with ResultWriter(path) as w:
        for r in rows:
            w.write(r, [0.5, 0.6] if r.status == "ok" else ())
    back = read_results(path)
    assert back == rows
    assert path.read_text().splitlines()[0].split(",") == list(COLUMNS)
    assert '"samples_s": [0.5, 0.6]' in sidecar_path(path).read_text()


def test_append_keeps_rows_and_header_once(tmp_path):
    path = tmp_path / "r.csv"
    for m in (1, 2):
        with ResultWriter(path) as w:
            w.write(_row(m=m))
    assert [r.m for r in read_results(path)] == [1, 2]
    assert path.read_text().count("schema_version") == 1


def test_truncated_tail_is_skipped_then_repaired(tmp_path):
    path = tmp_path / "r.csv"
    with ResultWriter(path) as w:
        w.write(_row(m=1))
        w.write(_row(m=2))
    text = path.read_text()
    path.write_text(text[: len(text) - 40])  # a kill in the middle of the second row
    assert [r.m for r in read_results(path)] == [1]
    with ResultWriter(path) as w:
        w.write(_row(m=3))
    assert [r.m for r in read_results(path)] == [1, 3]


@pytest.mark.parametrize(
    "content, fragment",
    [
        ("", "empty file"),
        ("a,b,c\n1,2,3\n", "not a gemmbench results CSV (missing columns: schema_version"),
        (None, "schema version '99' is newer"),
        (None, "bad row"),
    ],
)
def test_bad_files_raise_one_clear_error(tmp_path, content, fragment):
    path = tmp_path / "r.csv"
    if content is None:
        with ResultWriter(path) as w:
            w.write(_row())
        lines = path.read_text().splitlines()
        idx = COLUMNS.index("schema_version" if "schema" in fragment else "m")
        cells = lines[1].split(",")
        cells[idx] = "99" if "schema" in fragment else "abc"
        path.write_text(lines[0] + "\n" + ",".join(cells) + "\n")
    else:
        path.write_text(content)
    with pytest.raises(ResultsFileError, match=re.escape(fragment)):
        read_results(path)
    if content or "schema" in fragment:
        with pytest.raises(ResultsFileError):
            ResultWriter(path)  # never appends to a foreign or newer file


def test_missing_file():
    with pytest.raises(ResultsFileError, match="no such results file"):
        read_results("/nonexistent/x.csv")


def test_status_validated():
    with pytest.raises(ValueError, match="unknown status 'meh'; valid choices: ok, skipped, error, wrong"):
        _row(status="meh")


def test_schema_version_recorded():
    assert _row().schema_version == SCHEMA_VERSION
    assert dataclasses.fields(Measurement)[-1].name == "schema_version"
