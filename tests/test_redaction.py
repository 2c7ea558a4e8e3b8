"""Identifiers in every text field: an NHS number planted in any format, in any text column, reaches no table.

Property-based (hypothesis): the NHS numbers are generated valid (modulus 11), written the ways people write them
(3-3-4 with spaces, double spaces, dots, slashes, hyphens or tabs, run together, or in any other grouping) and
planted in every text field of a real export, which is then loaded; every value of every warehouse table is searched.
"""

from __future__ import annotations

import itertools
import re

import pandas as pd
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from psirf.pipeline import load_file
from reports.provider_feedback import from_warehouse
from tests.exports import ROW, rows, write_export
from transforms.nhs_number import check_digit, is_valid
from transforms.redact import may_hold_identifier, redact, redact_column
from warehouse.models import Base

TEXT_COLUMNS = ["Ref", "Sub Category", "Result", "Division", "Speciality", "Location (Type)", "Location (Exact)",
                "What Happened?", "Action Taken (at the time of the incident)", "Lessons Learned", "Notes"]
"""Every text field of the RAJ export that is not a code or a key, and a column the profile does not know
(schema drift: kept, redacted, in ``extra_attributes``)."""
SEPARATORS = [" ", "  ", ".", "/", "-", " - ", "\t", ""]


@st.composite
def nhs_numbers(draw: st.DrawFn) -> str:
    nine = draw(st.text("0123456789", min_size=9, max_size=9))
    check = check_digit(nine)
    if check is None:
        nine = nine[:8] + str((int(nine[8]) + 1) % 10)
        check = check_digit(nine)
    if check is None:
        nine = nine[:8] + str((int(nine[8]) + 1) % 10)
        check = check_digit(nine)
    assert check is not None
    return nine + str(check)


@st.composite
def written(draw: st.DrawFn, number: str) -> str:
    """The number as someone might type it."""
    style = draw(st.sampled_from(["334", "334-mixed", "groups"]))
    if style == "334":
        sep = draw(st.sampled_from(SEPARATORS))
        return f"{number[:3]}{sep}{number[3:6]}{sep}{number[6:]}"
    if style == "334-mixed":
        a, b = draw(st.sampled_from(SEPARATORS)), draw(st.sampled_from(SEPARATORS))
        return f"{number[:3]}{a}{number[3:6]}{b}{number[6:]}"
    cuts = sorted(draw(st.sets(st.integers(1, 9), max_size=4)))
    parts = [number[i:j] for i, j in zip([0, *cuts], [*cuts, 10], strict=True)]
    return draw(st.sampled_from(SEPARATORS[:5])).join(parts)


def _digits_of(text: str) -> str:
    return re.sub(r"[ \t./\\-]", "", text)


WORDS = st.text(st.sampled_from("abcdefghij ABC,;:()'"), max_size=12)


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_redact_removes_a_valid_nhs_number_in_any_format(data):
    number = data.draw(nhs_numbers())
    lead = data.draw(st.sampled_from(["", "Bay 4 ", "bed 12, ", "ref: "]))
    text = lead + data.draw(WORDS) + " " + data.draw(written(number)) + " " + data.draw(WORDS)
    assert is_valid(number)
    out = redact(text)
    assert number not in _digits_of(out), (text, out)
    assert redact_column(pd.Series([text])).iloc[0] == out


TRICKY = st.text(st.sampled_from("0123456789١٢٣٤٥٦٧٨٩ \t\xa0\u2003./-()@+ABSWKbdeinorthıİſK:, "), max_size=40)
"""Digits of other scripts, Unicode spaces, the letters Python folds unexpectedly under IGNORECASE, separators."""


@settings(max_examples=800, deadline=None)
@given(text=TRICKY)
def test_the_native_prefilter_never_skips_a_value_the_patterns_would_change(text):
    """The column-wise pre-filter (RE2, run by Arrow) must pick every value :func:`redact` (Python's ``re``)
    changes, or an identifier would pass unredacted."""
    if redact(text) != text:
        assert bool(may_hold_identifier(pd.Series([text], dtype="string")).iloc[0]), text


def test_redaction_patterns_from_the_issue():
    cases = {
        "Bay 4 NHS 999 111 9353 SS9 1EQ": "Bay 4 NHS [NUMBER REDACTED] [POSTCODE REDACTED]",
        "seen 999.111.9353 / 999/111/9353": "seen [NUMBER REDACTED] / [NUMBER REDACTED]",
        "nhs 999  111  9353.": "nhs [NUMBER REDACTED].",
        "Patient born 20/10/1962, DOB 20.10.62, d.o.b. 20 Oct 1962": "Patient [DOB REDACTED], [DOB REDACTED], "
                                                                      "[DOB REDACTED]",
        "ring 01245 123456 or +44 (0)20 7946 0958, j.smith@example.nhs.uk": "ring [PHONE REDACTED] or "
                                                                            "[PHONE REDACTED], [EMAIL REDACTED]",
        "Fell at 10:30 on 03/04/2024 in bay 4, Datix 1234567": "Fell at 10:30 on 03/04/2024 in bay 4, Datix 1234567",
    }
    assert {text: redact(text) for text in cases} == cases


def _every_value(engine: sa.Engine) -> list[str]:
    values = []
    with engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            for row in conn.execute(sa.select(table)):
                values += [str(v) for v in row if v is not None]
    return values


def _planted_anywhere(engine: sa.Engine, numbers: list[str]) -> list[str]:
    found = []
    for value in _every_value(engine):
        squeezed = _digits_of(value)
        found += [f"{n} in {value[:80]!r}" for n in numbers if n in squeezed]
    return found


_ids = itertools.count(5000)


@pytest.mark.slow
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture],
          phases=[Phase.explicit, Phase.generate])  # no shrinking: each example is a real load
@given(data=st.data())
def test_a_planted_nhs_number_reaches_no_table(data, tmp_path_factory, duckdb_warehouse):
    engine = duckdb_warehouse
    records, planted = [], []
    for _ in range(3):
        row = {**ROW, "Datix ID": str(next(_ids))}
        for column in TEXT_COLUMNS:
            number = data.draw(nhs_numbers())
            planted.append(number)
            row[column] = data.draw(st.sampled_from(["", "Bay 4 ", "see "])) + data.draw(written(number))
        records.append(row)
    path = write_export(tmp_path_factory.mktemp("plant") / "incidents_p.csv", records, extra_columns=("Notes",))
    result = load_file(path, "RAJ", engine=engine)
    assert (result["status"], result["loaded"]) == ("loaded", 3)  # the rows are in the warehouse, redacted
    assert _planted_anywhere(engine, planted) == []


@pytest.fixture(scope="module")
def duckdb_warehouse(tmp_path_factory):
    from warehouse.db import make_engine
    from warehouse.migrate import upgrade

    with pytest.MonkeyPatch.context() as patch:
        home = tmp_path_factory.mktemp("home")
        patch.setenv("PSIRF_HOME", str(home))
        patch.setenv("PSIRF_PSEUDONYMISATION_KEY", "TEST-ONLY-key-for-pseudonymisation-tests-0123")
        engine = make_engine(f"duckdb:///{home / 'w.duckdb'}")
        upgrade(engine)
        yield engine
        engine.dispose()


def test_location_and_reference_from_the_issue_are_in_no_table(tmp_path, monkeypatch, migrated_engine):
    monkeypatch.setenv("PSIRF_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PSIRF_PSEUDONYMISATION_KEY", "TEST-ONLY-key-for-pseudonymisation-tests-0123")
    records = rows(3)
    records[0].update({"Location (Exact)": "Bay 4 NHS 999 111 9353 SS9 1EQ", "Ref": "9991119353",
                       "What Happened?": "Pt 999.111.9353 (also 999/111/9353, 999  111  9353), born 20/10/1962"})
    records[1]["Ref"] = "999 111 9354"  # NHS-number-shaped but invalid: redacted like free text, not withheld
    records[2]["Ref"] = "W-2026/0042"  # an ordinary reference: kept
    result = load_file(write_export(tmp_path / "incidents_i.csv", records), "RAJ", run_id="run-1",
                       engine=migrated_engine)
    assert (result["rows_in"], result["loaded"], result["quarantined"]) == (3, 3, 0)  # counts still add up
    assert _planted_anywhere(migrated_engine, ["9991119353"]) == []
    values = " | ".join(_every_value(migrated_engine))
    assert "SS9 1EQ" not in values and "20/10/1962" not in values
    with migrated_engine.connect() as conn:
        held = dict(conn.execute(sa.text(
            "SELECT source_record_id, local_reference FROM incident")).all())
        location = conn.execute(sa.text(
            "SELECT location_exact_source, description FROM incident WHERE source_record_id = '1001'")).one()
    assert held == {"1001": None, "1002": "[NUMBER REDACTED]", "1003": "W-2026/0042"}
    assert location == ("Bay 4 NHS [NUMBER REDACTED] [POSTCODE REDACTED]",
                        "Pt [NUMBER REDACTED] (also [NUMBER REDACTED], [NUMBER REDACTED]), [DOB REDACTED]")
    # the provider is told, in the feedback report's rows (loaded, but fix at source)
    feedback = from_warehouse(migrated_engine, "RAJ", "run-1")
    assert feedback is not None
    notes = feedback.warnings[feedback.warnings["rule_id"] == "local_reference.nhs_number"]
    assert list(zip(notes["source_row_number"], notes["source_record_id"], notes["field"], strict=True)) == [
        (2, "1001", "Ref")]
    assert notes["found"].tolist() == ["10 digits that pass the NHS number check"]
