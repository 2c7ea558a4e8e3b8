"""The demo estate: every registered provider gets demo data in its own source family.

- CSV drops: Datix listing exports (:mod:`demo.feeds`).
- Excel drops: the same generated rows written as a workbook the way Excel holds them (date cells, serial dates,
  long numbers as numbers, scientific notation), one sheet per entity.
- REST APIs: the generated rows under ``demo_sources/<ODS>/`` for the local provider API server to serve, plus
  learning responses linked to incidents.
- LFPSE FHIR drops: NDJSON and Bundle exports for GP practices (:mod:`demo.lfpse`), and the trusts'
  national LFPSE record with planted differences from their own records (:mod:`demo.lfpse_national`).

Deterministic: the same arguments give byte-identical files, so a rerun of ``make run`` finds nothing new.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import random
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

from demo.feeds import ANCHOR_DATE, DEFAULT_SEED, generate_demo_feeds
from demo.lfpse import generate_lfpse_feeds
from demo.lfpse_national import generate_national_export
from psirf import settings
from psirf.registry import FeedConfig, Provider, load_registry
from transforms.fields import ENTITY_FIELDS, FieldKind
from transforms.profile import MappingProfile, load_profile

# Which families get which demo data (the demo knows the families by name; the product does not).
WRITTEN_IN_PLACE = {"csv_drop"}  # exports written straight into the provider's feed folder
STAGED = {"excel_drop", "rest_api"}  # rows generated under demo_sources/<ODS>/, then a workbook or the mock API
WORKBOOK, API, LFPSE = {"excel_drop"}, {"rest_api"}, {"lfpse_fhir_drop"}

SOURCE_GLOBS = {"incidents": "IncidentListing_*.csv", "safety_actions": "ActionListing_*.csv"}
STAMP = ANCHOR_DATE.strftime("%Y%m%d")


def demo_sources_dir(home: Path) -> Path:
    """Where the local provider API server finds the records it serves."""
    return home / "demo_sources"


def generate_demo(home: Path, *, seed: int = DEFAULT_SEED, incidents_per_provider: int = 200,
                  lfpse_events_per_practice: int = 30) -> dict[str, Any]:
    """Write demo data for every registered provider in its source family; return one manifest."""
    home = Path(home)
    providers = load_registry(settings.registry_path(), home=home)
    staged: list[Provider] = []
    for p in providers:
        if p.source_type in WRITTEN_IN_PLACE:
            staged.append(p)
        elif p.source_type in STAGED:
            folder = demo_sources_dir(home) / p.ods_code
            staged.append(replace(p, feed=FeedConfig(path=folder, globs=dict(SOURCE_GLOBS))))
    manifest = generate_demo_feeds(home, staged, seed=seed, incidents_per_provider=incidents_per_provider)
    for p in providers:
        profile = load_profile(p.profile, settings.profiles_dir())
        entry = manifest["providers"].get(p.ods_code)
        if p.source_type in WORKBOOK:
            workbook = p.feed.path / p.feed.globs["incidents"].replace("*", STAMP)
            write_workbook(demo_sources_dir(home) / p.ods_code, profile, workbook, p.feed.sheets)
            entry["workbook"] = str(workbook.relative_to(home))
        elif p.source_type in API and "learning_responses" in profile.entities:
            entry["files"]["learning_responses"] = write_learning_responses(
                demo_sources_dir(home) / p.ods_code, profile, seed=seed)
        elif p.source_type in LFPSE and profile.record_origin == "lfpse_national":
            trusts = [(t, load_profile(t.profile, settings.profiles_dir())) for t in staged]
            manifest["providers"][p.ods_code] = {"profile": p.profile, "lfpse_national": generate_national_export(
                p.feed.path, trusts, seed=seed, incidents_per_provider=incidents_per_provider)}
        elif p.source_type in LFPSE:
            manifest["providers"][p.ods_code] = {
                "profile": p.profile, "lfpse": generate_lfpse_feeds(p.feed.path, seed=seed,
                                                                    events_per_practice=lfpse_events_per_practice)}
    (home / "demo_feeds").mkdir(parents=True, exist_ok=True)
    (home / "demo_feeds" / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str) + "\n",
                                                       encoding="utf-8")
    return manifest


def _read_rows(path: Path) -> list[dict[str, str]]:
    from connectors.encoding import decode

    text, _ = decode(path.read_bytes(), str(path))
    return list(csv.DictReader(text.splitlines(keepends=True)))


def write_workbook(source_dir: Path, profile: MappingProfile, out: Path, sheets: dict[str, str]) -> Path:
    """The generated exports as one .xlsx with a sheet per entity, holding values the way Excel does."""
    from openpyxl import Workbook

    workbook = Workbook()
    workbook.remove(workbook.active)
    for entity, glob in SOURCE_GLOBS.items():
        [csv_path] = sorted(source_dir.glob(glob))
        rows = _read_rows(csv_path)
        sheet = workbook.create_sheet(sheets.get(entity, entity))
        header = list(rows[0]) if rows else []
        sheet.append(header)
        kinds = _column_kinds(profile, entity)
        for i, row in enumerate(rows):
            sheet.append([_excel_value(row[c], kinds.get(c), profile, i) for c in header])
        for cells in sheet.iter_rows(min_row=2):
            for cell in cells:
                kind = kinds.get(str(sheet.cell(1, cell.column).value))
                if isinstance(cell.value, dt.datetime):
                    cell.number_format = "dd/mm/yyyy hh:mm" if kind is FieldKind.DATETIME else "dd/mm/yyyy"
                elif isinstance(cell.value, float) and kind is FieldKind.NHS_NUMBER:
                    cell.number_format = "0.00E+00"
    out.parent.mkdir(parents=True, exist_ok=True)
    fixed = dt.datetime.combine(ANCHOR_DATE, dt.time())
    workbook.properties.created = workbook.properties.modified = fixed
    workbook.save(out)
    _freeze_zip_times(out, fixed)
    return out


def _freeze_zip_times(path: Path, when: dt.datetime) -> None:
    """Give every zip member a fixed time so the same workbook is byte-identical (and keeps its checksum)."""
    import zipfile

    with zipfile.ZipFile(path) as src:
        members = [(info, src.read(info)) for info in src.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for info, data in members:
            if info.filename == "docProps/core.xml":  # openpyxl stamps "modified" with the time of saving
                stamp = when.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
                data = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*", rb"\g<1>" + stamp, data)
            frozen = zipfile.ZipInfo(info.filename, date_time=when.timetuple()[:6])
            frozen.compress_type = zipfile.ZIP_DEFLATED
            dst.writestr(frozen, data)


def _column_kinds(profile: MappingProfile, entity: str) -> dict[str, FieldKind]:
    spec = ENTITY_FIELDS[entity]
    return {column: spec[fld].kind for fld, column in profile.entity(entity).columns.items()}


def _excel_value(text: str, kind: FieldKind | None, profile: MappingProfile, i: int) -> object:
    """What Excel would hold for a typed-in value: real dates (some as bare serial numbers), NHS numbers as
    numbers (so 'scientific notation' ones are floats that lost their digits), everything else as text."""
    if not text:
        return None
    if kind in (FieldKind.DATE, FieldKind.DATE_OF_BIRTH, FieldKind.DATETIME):
        fmt = profile.datetime_format if kind is FieldKind.DATETIME else profile.date_format
        try:
            value = dt.datetime.strptime(text, fmt)
        except ValueError:
            return text  # not a date: Excel keeps the text
        if value.year < 1990:
            return text
        if kind is FieldKind.DATE and i % 7 == 3:
            return (value - dt.datetime(1899, 12, 30)).days  # a bare serial number, as pasted-values sheets have
        return value
    if kind is FieldKind.NHS_NUMBER:
        compact = text.replace(" ", "")
        if compact.isdigit() and len(compact) == 10:
            return int(compact)
        try:
            return float(text)  # e.g. 9.43E+09: the digits are already gone
        except ValueError:
            return text
    return text


LR_TYPES = [("SWARM", 5), ("AAR", 4), ("PSII", 2), ("MDT", 2), ("THEMATIC", 1), ("LOCAL", 1), ("NFA", 1)]


def write_learning_responses(source_dir: Path, profile: MappingProfile, *, seed: int) -> dict[str, Any]:
    """PSIRF learning responses for moderate-or-worse incidents in the generated export, linked many-to-many."""
    rng = random.Random(f"{seed}:{source_dir.name}:learning_responses")
    inc = profile.entity("incidents")
    harm_codes = inc.codes["physical_harm"]
    [csv_path] = sorted(source_dir.glob(SOURCE_GLOBS["incidents"]))
    rows = _read_rows(csv_path)
    serious = [r for r in rows if harm_codes.get(" ".join(r[inc.columns["physical_harm"]].split()).casefold())
               in ("1", "2", "3") and r[inc.columns["source_record_id"]]]
    columns = profile.entity("learning_responses").columns
    out: list[dict[str, str]] = []
    ids = sorted({r[inc.columns["source_record_id"]] for r in serious})
    rng.shuffle(ids)
    n = 0
    while ids:
        n += 1
        covered = [ids.pop() for _ in range(min(len(ids), rng.choice([1, 1, 1, 2, 3])))]
        kind = rng.choices([t for t, _ in LR_TYPES], weights=[w for _, w in LR_TYPES])[0]
        commissioned = ANCHOR_DATE - dt.timedelta(days=rng.randint(20, 300))
        due = commissioned + dt.timedelta(days={"PSII": 180, "THEMATIC": 120}.get(kind, 40))
        done = rng.random() < 0.55 and due < ANCHOR_DATE
        completed = min(ANCHOR_DATE, due + dt.timedelta(days=rng.randint(-20, 30))) if done else None
        updated = dt.datetime.combine(completed or commissioned, dt.time(9, rng.randint(0, 59)))
        values = {
            "source_record_id": f"LR{n:05d}", "response_type": kind,
            "commissioned_date": commissioned.strftime(profile.date_format),
            "due_date": due.strftime(profile.date_format),
            "completed_date": completed.strftime(profile.date_format) if completed else "",
            "status": "COMPLETE" if done else "OPEN",
            "patient_family_involved": rng.choice(["Yes", "No", "Yes"]),
            "staff_involved": "Yes",
            "incident_source_record_ids": ";".join(covered),
            "source_updated_at": updated.strftime(profile.datetime_format),
        }
        out.append({columns[k]: v for k, v in values.items() if k in columns})
    path = source_dir / f"LearningResponses_{STAMP}.csv"
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.DictWriter(fh, list(out[0]) if out else list(columns.values()), lineterminator="\r\n")
        writer.writeheader()
        writer.writerows(out)
    links = sum(len(r[columns["incident_source_record_ids"]].split(";")) for r in out)
    return {"path": str(path), "rows_in": len(out), "expected_loaded": len(out), "expected_quarantined": 0,
            "expected_duplicates": 0, "links": links}
