"""Small DatixWeb listing exports (the RAJ profile, ``datix_web_listing_v1``) made in a test, row by row."""

from __future__ import annotations

import csv
from pathlib import Path

ROW = {
    "Datix ID": "1001", "Ref": "W1", "Incident Date": "03/04/2025", "Time": "0930", "Reported Date": "04/04/2025",
    "Category": "Medication", "Sub Category": "Wrong dose", "Actual Harm": "None (No harm)", "Result": "No Harm",
    "Division": "Medicine", "Speciality": "Cardiology", "Location (Type)": "Ward", "Location (Exact)": "Ward 5",
    "What Happened?": "Wrong dose given.", "Action Taken (at the time of the incident)": "Reviewed",
    "Lessons Learned": "", "Duty of Candour": "No", "Approval Status": "FA", "Last Updated": "05/04/2025 10:00",
    "NHS Number": "943 476 5919", "Date of Birth": "01/02/1950", "Gender": "Male", "Ethnicity": "White - British",
}
"""One valid incident row: every column the RAJ profile maps."""


def rows(n: int, **changes: str) -> list[dict[str, str]]:
    """``n`` valid rows with ids 1001, 1002, …; ``changes`` applied to every row."""
    return [{**ROW, "Datix ID": str(1001 + i), **changes} for i in range(n)]


def write_export(path: Path, records: list[dict[str, str]], *, encoding: str = "cp1252", delimiter: str = ",",
                 extra_columns: tuple[str, ...] = ()) -> Path:
    """Write ``records`` as an export with the profile's columns (plus ``extra_columns``), CRLF line ends."""
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = [*ROW, *extra_columns]
    with path.open("w", newline="", encoding=encoding) as fh:
        writer = csv.DictWriter(fh, columns, extrasaction="ignore", delimiter=delimiter, lineterminator="\r\n")
        writer.writeheader()
        writer.writerows(records)
    return path
