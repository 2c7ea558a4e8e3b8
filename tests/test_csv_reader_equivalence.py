"""The Arrow CSV reader reads every file exactly as the line-by-line reader it replaced (tests/csv_reference.py):
the same values, spreadsheet row numbers, ragged rows with their messages, chunk boundaries, encoding and
rejections, on generated files full of the things that break CSV readers (quoted commas and line breaks, doubled
quotes, text after a closing quote, whitespace-only and empty lines, ragged rows, four encodings, tabs)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.csv_drop.reader import iter_csv
from psirf.errors import BatchRejected
from tests import csv_reference

CELL = st.text(st.sampled_from('ab Zé€,"\n\r\t;1 '), max_size=6)
"""Cells with the characters that matter to a CSV parser (and é / € for the encodings)."""


@st.composite
def exports(draw: st.DrawFn) -> tuple[bytes, str]:
    width = draw(st.integers(1, 4))
    header = [f"Col {i}" for i in range(width)]
    delimiter = draw(st.sampled_from([",", "\t"]))
    lines: list[str] = []
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator=draw(st.sampled_from(["\r\n", "\n"])))
    writer.writerow(header)
    for _ in range(draw(st.integers(0, 12))):
        kind = draw(st.sampled_from(["row", "row", "row", "ragged", "blank", "spaces", "raw"]))
        if kind == "row":
            writer.writerow([draw(CELL) for _ in range(width)])
        elif kind == "ragged":
            writer.writerow([draw(CELL) for _ in range(draw(st.integers(1, width + 2)))])
        elif kind == "blank":
            out.write("\r\n")
        elif kind == "spaces":
            out.write("   \n")
        else:  # hand-written quoting a writer never produces: text after a closing quote, a stray quote
            out.write(draw(st.sampled_from(['"ab"cd', 'ab"c', '"x""y"', ' "q,r"', '""'])) + delimiter * (width - 1)
                      + "\n")
    lines.append(out.getvalue())
    text = "".join(lines)
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "cp1252", "utf-16"]))
    return text.encode(encoding), encoding


def _read(reader, path: Path, chunk_rows: int | None, group: str | None):  # type: ignore[no-untyped-def]
    try:
        batches = list(reader(path, chunk_rows, group_column=group))
    except BatchRejected as exc:
        return ("rejected", exc.rule_id, exc.problem.split(":")[0])
    return ("read", [(b.encoding, b.columns, b.row_numbers, b.frame.astype(object).where(b.frame.notna(), None)
                      .values.tolist()) for b in batches],
            sorted((m[0], m[1], m[2]) for b in batches for m in b.malformed))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(export=exports(), chunk_rows=st.sampled_from([None, 1, 2, 3, 5]), grouped=st.booleans())
def test_the_arrow_reader_reads_every_file_as_the_csv_module_did(export: tuple[bytes, str], chunk_rows: int | None,
                                                                  grouped: bool, tmp_path: Path) -> None:
    data, _ = export
    path = tmp_path / "export.csv"
    path.write_bytes(data)
    group = "Col 0" if grouped else None
    assert _read(iter_csv, path, chunk_rows, group) == _read(csv_reference.iter_csv, path, chunk_rows, group)


@pytest.mark.parametrize("content", [
    b"",
    b"   \r\n",
    b"A,B,A\r\n1,2,3\r\n",
    b"A,B\r\n1,2\x00\r\n",
    "A,B\r\n1,2\r\n".encode("utf-16-le"),
    b"A,B\r\n",
    b"A\r\n\r\n   \r\nx\r\n",
])
def test_the_arrow_reader_rejects_and_accepts_the_same_edge_files(content: bytes, tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes(content)
    assert _read(iter_csv, path, 2, None) == _read(csv_reference.iter_csv, path, 2, None)


def test_a_frame_holds_strings_as_the_old_reader_made_them(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text("A,B\r\n1,\r\n", encoding="utf-8")
    [batch] = list(iter_csv(path))
    assert batch.frame.dtypes.tolist() == [pd.StringDtype("pyarrow")] * 2
    assert batch.frame.iloc[0].tolist() == ["1", ""]
