"""LFPSE FHIR drops, the reader: reads STU3 ``AdverseEvent`` exports into patient-level raw string rows.

LFPSE records reach the ICB as FHIR: one resource per file, a Bundle, or NDJSON (one resource per line). Harm is
recorded per patient, so the reader emits one row per (event, patient) and an event without patients as one row
with empty patient columns. Values are read by extension url (``.../StructureDefinition/<name>-<version>`` and
nested ``url`` names), never by position, and codes stay exactly as LFPSE sends them: the mapping profile turns
them into national codes. Like every connector it only reads: records that cannot become rows are listed in
``RawBatch.malformed`` with a rule id; a file that is not JSON at all is rejected.

Decisions (see also ``config/profiles/lfpse_fhir_v5.toml``):

* Source record id is ``ResourceId`` (the LFPSE logical id): it is stable across updates and it is the only key a
  FHIR deletion carries. ``ReferenceNumber`` (what people quote) is kept as the local reference and is required.
* Taxonomy version comes from ``meta.profile`` ``patient-safety-adverse-event-<N>``, else from the LFPSE extension
  urls. Any host is accepted (UAT ``psims-uat.azure-api.net`` for v5, ``developer.learn-from-patient-safety-
  events.nhs.uk`` for v6); the path decides.
* The published v5 taxonomy types the governance flags, ``IsAnonymous`` and ``DataSharingOptOut`` as Boolean:
  ``valueBoolean`` becomes ``y``/``n``; a ``valueCode`` (``y``/``n``/``u``) is kept as sent.
* ``LastUpdated`` (the version time: the newest version of a record wins) is ``meta.lastUpdated`` converted to naive
  UTC seconds (``2026-10-30T13:05:09``); it must carry a time zone, as a FHIR instant does. ``meta`` is optional in
  FHIR and no public document says an LFPSE export always carries it, so without it the version time is the
  enclosing Bundle's ``timestamp``, else the export file's modification time (when it was written out of LFPSE),
  and the fallback is recorded as a raw-layer warning (``fhir.version_time_fallback``), not a rejection.
* ``EventType`` is ``type.coding.code`` (R4's ``event``, which some v6 senders use, too). Without it the STU3
  ``category`` says what the event is: ``AE`` (an actual event) is an ``incident``, ``PAE`` (a potential one) a
  ``risk``; the record loads with the warning ``fhir.event_type_from_category`` naming what was used.
* ``EventDate`` is the date part of ``AdverseEvent.date`` as recorded (local
  calendar date, not converted), ``EventTime`` its HH:MM, else the estimated-date ``PreciseTime``.
* Deletion: no public LFPSE export layout documents one. We read the FHIR-standard form (also what FHIR Bulk Data
  uses for deleted resources): a transaction/batch/history Bundle entry with ``request.method = DELETE`` and
  ``request.url = AdverseEvent/<id>``; its time is the Bundle's ``timestamp`` (else ``meta.lastUpdated``). Such a
  row carries only ``ResourceId``, ``LastUpdated`` and ``Deleted = true``.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from connectors.base import Malformed, RawBatch, RawNote
from connectors.encoding import decode, sniff_encoding
from expectations.rules import R
from psirf.errors import BatchRejected
from transforms.profile import FhirLocalReference

# Versions with a mapping profile. v6 is read with the v5 profile: the code lists we map (harm, gender, ethnicity,
# age bracket, never event type) are taken as unchanged, and any code that did change surfaces as code.unknown.
SUPPORTED_TAXONOMY_VERSIONS: frozenset[int] = frozenset({5, 6})

_PROFILE_URL = re.compile(r"/StructureDefinition/patient-safety-adverse-event-(\d+)$")
_EXTENSION_URL = re.compile(r"/StructureDefinition/([a-z][a-z0-9]*(?:-[a-z][a-z0-9]*)*)-(\d+)$")
_DELETE_URL = re.compile(r"^(?:.*/)?AdverseEvent/([A-Za-z0-9.\-]{1,64})$")
_INSTANT = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.\d+)?(Z|[+-]\d{2}:\d{2})$")
_DATE_PREFIX = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:T(\d{2}:\d{2})(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})?)?$")
_TIME_PREFIX = re.compile(r"^(\d{2}:\d{2})(?::\d{2}(?:\.\d+)?)?$")
_BUNDLE_TYPES = frozenset({"collection", "transaction", "batch", "searchset", "history"})

# Extension names (without the ``-<version>`` suffix) that only LFPSE uses: their presence marks an LFPSE record.
LFPSE_EXTENSIONS = frozenset({
    "adverse-event-estimated-date", "adverse-event-agent", "adverse-event-outcome", "adverse-event-process",
    "adverse-event-risk-details", "adverse-event-went-well", "detection-factors", "adverse-event-classification",
    "adverse-event-reference-metadata", "adverse-event-safety-challenges", "adverse-event-governance",
    "patient-information", "location-details", "practitioner-details",
})

PATIENT_EXTENSION = "patient-information"


@dataclass(frozen=True)
class _Field:
    column: str
    extension: str  # LFPSE extension name without the version suffix
    url: str  # nested extension url
    many: bool = False  # 0..* in the taxonomy: repeated values are joined with "|"


EVENT_FIELDS: tuple[_Field, ...] = (
    _Field("ReferenceNumber", "adverse-event-reference-metadata", "ReferenceNumber"),
    _Field("ApproximateDate", "adverse-event-estimated-date", "ApproximateDate"),
    _Field("TodaysDate", "adverse-event-estimated-date", "TodaysDate"),
    _Field("PreciseTime", "adverse-event-estimated-date", "PreciseTime"),
    _Field("Organisation", "location-details", "Organisation", many=True),
    _Field("ServiceArea", "location-details", "ServiceArea", many=True),
    _Field("LocationWithinService", "location-details", "LocationWithinService"),
    _Field("ResponsibleSpecialty", "location-details", "ResponsibleSpecialty"),
    _Field("DutyOfCandour", "adverse-event-governance", "DutyOfCandour"),
    _Field("NeverEvent", "adverse-event-governance", "NeverEvent"),
    _Field("NeverEventType", "adverse-event-governance", "NeverEventType"),
    _Field("SeriousIncident", "adverse-event-governance", "SeriousIncident"),
    _Field("CqcNotify", "adverse-event-governance", "CqcNotify"),
    _Field("HsibNotify", "adverse-event-governance", "HsibNotify"),
    _Field("LocalAuthoritySafeguarding", "adverse-event-governance", "LocalAuthoritySafeguarding"),
    _Field("IsAnonymous", "adverse-event-reference-metadata", "IsAnonymous"),
    _Field("DataSharingOptOut", "adverse-event-reference-metadata", "DataSharingOptOut"),
)
PATIENT_FIELDS: tuple[_Field, ...] = tuple(_Field(name, PATIENT_EXTENSION, name) for name in (
    "PatientSequence", "PhysicalHarm", "PsychologicalHarm", "AgeAtTimeOfIncidentDays", "AgeBracket", "Gender",
    "PatientEthnicity", "StrengthOfAssociation", "ClinicalOutcome"))

COLUMNS: list[str] = [
    "ResourceId", "ReferenceNumber", "TaxonomyVersion", "LastUpdated", "Deleted", "EventType", "EventDate",
    "EventTime", "ApproximateDate", "TodaysDate", "Organisation", "ServiceArea", "LocationWithinService",
    "ResponsibleSpecialty", "Description", "DutyOfCandour", "NeverEvent", "NeverEventType", "SeriousIncident",
    "CqcNotify", "HsibNotify", "LocalAuthoritySafeguarding", "IsAnonymous", "DataSharingOptOut",
    *(f.column for f in PATIENT_FIELDS),
]

# Elements a record cannot load without, and why: named in every ``fhir.missing_element`` message (and the README).
REQUIRED_ELEMENTS: dict[str, str] = {
    "id": "the record's key: an update or a deletion is matched to the record by it",
    "event type": "says whether the record is an incident, an outcome, a risk or good care (type.coding.code, "
                  "else the STU3 category AE or PAE)",
    "ReferenceNumber": "the reference the provider quotes for the record, kept as its local reference",
    "DataSharingOptOut": "says whether the patient's details may be kept at all (national data opt-out)",
    "PatientSequence": "tells an event's patients apart: harm is recorded per patient",
    "request.url": "names the record a deletion removes (AdverseEvent/<id>)",
    "Bundle.timestamp": "the time of a deletion, so an older version sent later cannot bring the record back",
}
CATEGORY_EVENT_TYPES = {"AE": "incident", "PAE": "risk"}  # STU3 AdverseEvent.category -> LFPSE event type

MISSING = R.FHIR__MISSING_ELEMENT


def _missing(element: str, problem: str) -> _Malformed:
    """A ``fhir.missing_element`` naming the element and why it is required."""
    return _Malformed(MISSING, f"{problem}; required because it {REQUIRED_ELEMENTS[element]}", element)


class _Malformed(Exception):
    """One record that cannot become rows: its rule id and a description safe to store (no patient data)."""

    def __init__(self, rule_id: str, problem: str, element: str | None = None) -> None:
        super().__init__(problem)
        self.rule_id = rule_id
        self.problem = problem
        self.element = element


@dataclass(frozen=True)
class _Record:
    row_number: int
    where: str  # "line 7", "entry 3", "line 2, entry 1": for messages
    item: Any  # the parsed JSON (or the JSON error text when ``error`` is set)
    error: str | None = None
    request: dict[str, Any] | None = None  # Bundle entry request (transaction/batch/history)
    bundle_time: str | None = None  # the enclosing Bundle's timestamp / meta.lastUpdated


def read_fhir(path: Path, supported_versions: frozenset[int] = SUPPORTED_TAXONOMY_VERSIONS,
              local_reference: FhirLocalReference | None = None) -> RawBatch:
    """Read an AdverseEvent JSON, a Bundle or NDJSON into patient-level string rows (see module docstring).

    Row numbers: the NDJSON line, the Bundle entry (1-based), or 1 for a single resource; all rows of one event
    share it (``PatientSequence`` tells them apart). ``local_reference`` (from the profile): where a record carries
    the provider's own LRMS reference; it is then emitted as one more column (empty when a record lacks it).
    """
    source = str(path)
    text, encoding = _decode(path.read_bytes(), source)
    rows = _Rows(source, encoding, supported_versions, file_time(path), local_reference)
    for record in _records(text, source):
        rows.add(record)
    return rows.batch()


class _Rows:
    """Patient-level rows (and malformed records) collected from records, handed out as a raw batch."""

    def __init__(self, source: str, encoding: str, supported: frozenset[int], file_time: str,
                 local_reference: FhirLocalReference | None = None) -> None:
        self.source, self.encoding, self.supported, self.file_time = source, encoding, supported, file_time
        self.local_reference = local_reference
        self.columns = [*COLUMNS, local_reference.column] if local_reference else list(COLUMNS)
        self.rows: list[dict[str, str]] = []
        self.row_numbers: list[int] = []
        self.malformed: list[tuple[int, str, str]] = []
        self.notes: list[RawNote] = []

    def add(self, record: _Record) -> None:
        notes: list[tuple[str, str, str, str]] = []
        try:
            produced = _rows_for(record, self.supported, _Fallbacks(record.bundle_time, self.file_time, notes))
            if self.local_reference is not None:
                reference = _local_reference(record, self.local_reference)
                produced = [{**row, self.local_reference.column: reference} for row in produced]
        except _Malformed as bad:
            self.malformed.append(Malformed(record.row_number, bad.rule_id, f"{record.where}: {bad.problem}",
                                            bad.element))
            return
        record_id = produced[0]["ResourceId"] if produced else None
        self.notes.extend(RawNote(record.row_number, record_id, *note) for note in notes)
        self.rows.extend(produced)
        self.row_numbers.extend([record.row_number] * len(produced))

    def batch(self) -> RawBatch:
        """The rows so far as a raw batch; the collector starts empty again."""
        frame = pd.DataFrame(self.rows, columns=self.columns, dtype="string") if self.rows else pd.DataFrame(
            {c: pd.Series(dtype="string") for c in self.columns})
        batch = RawBatch(source_file=self.source, encoding=self.encoding, columns=list(self.columns), frame=frame,
                         row_numbers=self.row_numbers, malformed=self.malformed, notes=self.notes)
        self.rows, self.row_numbers, self.malformed, self.notes = [], [], [], []
        return batch


def file_time(path: Path) -> str:
    """The export file's modification time (when it was written out of LFPSE), as naive UTC seconds: the last
    fallback for a record's version time."""
    moment = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC)
    return moment.replace(tzinfo=None, microsecond=0).isoformat(timespec="seconds")


@dataclass
class _Fallbacks:
    """Where a record's version time comes from when it has no ``meta.lastUpdated``, and the notes made."""

    bundle_time: str | None
    file_time: str
    notes: list[tuple[str, str, str, str]]  # (rule id, element, found, expected)


def iter_fhir(path: Path, chunk_rows: int | None,
              supported_versions: frozenset[int] = SUPPORTED_TAXONOMY_VERSIONS,
              local_reference: FhirLocalReference | None = None) -> Iterator[RawBatch]:
    """:func:`read_fhir` in chunks of about ``chunk_rows`` rows, streaming an NDJSON export line by line (the bulk
    format, one resource per line), so memory does not grow with the file. A single JSON document (a resource or a
    Bundle) is parsed whole. An event's rows are never split between chunks; row numbers are as :func:`read_fhir`
    gives them (the NDJSON line)."""
    source = str(path)
    if chunk_rows is None or not _is_ndjson(path):
        yield read_fhir(path, supported_versions, local_reference)
        return
    encoding = sniff_encoding(path, _ENCODINGS, _HINT)
    rows = _Rows(source, encoding, supported_versions, file_time(path), local_reference)
    try:
        with path.open("rb") as fh:
            for number, raw in enumerate(fh, start=1):  # binary lines end at a newline only, as _split_lines
                line = raw.decode("utf-8-sig" if number == 1 else "utf-8").removesuffix("\n").removesuffix("\r")
                if not line.strip():
                    continue
                for record in _ndjson_line(number, line):
                    rows.add(record)
                if len(rows.rows) >= chunk_rows:
                    yield rows.batch()
    except UnicodeDecodeError:
        read_fhir(path, supported_versions, local_reference)  # raises, naming the byte and its offset
        raise
    if rows.rows or rows.malformed:
        yield rows.batch()


def _is_ndjson(path: Path) -> bool:
    """True when the first non-blank line is a whole JSON object and more lines follow (a pretty-printed document
    starts with a lone ``{``; a one-line document has no second line)."""
    with path.open("rb") as fh:
        lines = (line for line in fh if line.strip())
        first = next(lines, None)
        if first is None or next(lines, None) is None:
            return False
    try:
        return isinstance(json.loads(first.decode("utf-8-sig")), dict)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return False


# --- file layout -----------------------------------------------------------------------------------------------

_ENCODINGS = ("utf-8", "utf-8-sig")  # JSON is UTF-8 (RFC 8259), a byte-order mark tolerated
_HINT = "FHIR JSON must be UTF-8: re-export it from LFPSE"


def _decode(data: bytes, source: str) -> tuple[str, str]:
    if not data.strip():
        raise BatchRejected(source, "the file is empty", rule_id=R.BATCH__EMPTY)
    return decode(data, source, _ENCODINGS, _HINT)


def _records(text: str, source: str) -> Iterator[_Record]:
    """Whole-document JSON (a resource or a Bundle), else NDJSON; neither rejects the file."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as whole_error:
        yield from _ndjson(text, source, whole_error)
        return
    if not isinstance(document, dict):
        raise BatchRejected(source, f"holds a JSON {type(document).__name__}, not a FHIR resource or Bundle")
    if document.get("resourceType") == "Bundle":
        kind = document.get("type")
        if kind not in _BUNDLE_TYPES:
            raise BatchRejected(source, f"is a Bundle of type {kind!r}; expected one of {sorted(_BUNDLE_TYPES)}")
        yield from _bundle_entries(document, row_number=None, where="")
        return
    yield _Record(row_number=1, where="resource", item=document)


def _ndjson(text: str, source: str, whole_error: json.JSONDecodeError) -> Iterator[_Record]:
    lines = _split_lines(text)
    if not any(isinstance(_parse_line(line), dict) for line in lines if line.strip()):
        raise BatchRejected(source, f"is neither JSON nor NDJSON: {whole_error.msg} at line {whole_error.lineno} "
                                    f"column {whole_error.colno}")
    for number, line in enumerate(lines, start=1):
        if line.strip():  # blank lines (e.g. a trailing newline) are not records
            yield from _ndjson_line(number, line)


def _split_lines(text: str) -> list[str]:
    """NDJSON lines end at ``\\n`` (or ``\\r\\n``) only; other control characters are part of a (bad) line."""
    return [line.removesuffix("\r") for line in text.split("\n")]


def _parse_line(line: str) -> Any:
    try:
        return json.loads(line)
    except json.JSONDecodeError:
        return None


def _ndjson_line(number: int, line: str) -> Iterator[_Record]:
    """The records of one NDJSON line: a resource, a Bundle's entries, or one error record."""
    where = f"line {number}"
    try:
        item = json.loads(line)
    except json.JSONDecodeError as exc:
        yield _Record(number, where, None, error=f"not valid JSON ({exc.msg}, column {exc.colno})")
        return
    if not isinstance(item, dict):
        yield _Record(number, where, None, error=f"a JSON {type(item).__name__}, not a FHIR resource")
        return
    if item.get("resourceType") == "Bundle":
        # FHIR Bulk Data reports deletions as one transaction Bundle per NDJSON line.
        if item.get("type") not in _BUNDLE_TYPES:
            yield _Record(number, where, None, error=(
                f"a Bundle of type {item.get('type')!r}; expected one of {sorted(_BUNDLE_TYPES)}"))
            return
        yield from _bundle_entries(item, row_number=number, where=where + ", ")
        return
    yield _Record(number, where, item)


def _bundle_entries(bundle: dict[str, Any], row_number: int | None, where: str) -> Iterator[_Record]:
    meta = bundle.get("meta")
    bundle_time = bundle.get("timestamp") or (meta.get("lastUpdated") if isinstance(meta, dict) else None)
    entries = bundle.get("entry") or []
    if not isinstance(entries, list):
        entries = [entries]
    for index, entry in enumerate(entries, start=1):
        number = row_number if row_number is not None else index
        label = f"{where}entry {index}"
        if not isinstance(entry, dict):
            yield _Record(number, label, None, error="the Bundle entry is not a JSON object")
            continue
        request = entry.get("request") if isinstance(entry.get("request"), dict) else None
        yield _Record(number, label, entry.get("resource"), request=request,
                      bundle_time=bundle_time if isinstance(bundle_time, str) else None)


# --- one record ------------------------------------------------------------------------------------------------

def _rows_for(record: _Record, supported: frozenset[int], fallbacks: _Fallbacks) -> list[dict[str, str]]:
    if record.error is not None:
        raise _Malformed(R.FHIR__INVALID_JSON, record.error)
    method = str((record.request or {}).get("method", "")).upper()
    if method == "DELETE":
        return [_deletion(record)]
    if method not in ("", "POST", "PUT"):
        raise _Malformed(R.FHIR__UNSUPPORTED_ENTRY, f"request.method {method}; expected PUT, POST or DELETE")
    resource = record.item
    if resource is None:
        raise _Malformed(MISSING, "the Bundle entry has no resource; expected an AdverseEvent", "resource")
    if not isinstance(resource, dict):
        raise _Malformed(R.FHIR__INVALID_JSON, "the resource is not a JSON object")
    kind = resource.get("resourceType")
    if kind != "AdverseEvent":
        found = f"a {kind} resource" if isinstance(kind, str) and kind else "JSON without a resourceType"
        raise _Malformed(R.FHIR__NOT_ADVERSE_EVENT, f"{found}; expected an LFPSE AdverseEvent")
    return _event_rows(resource, supported, fallbacks)


def _deletion(record: _Record) -> dict[str, str]:
    url = str((record.request or {}).get("url", "")).strip()
    if not url:
        raise _missing("request.url", "DELETE entry without request.url; expected AdverseEvent/<id>")
    if "?" in url:
        raise _Malformed(R.FHIR__UNSUPPORTED_ENTRY, f"conditional delete {url!r}; expected AdverseEvent/<id>")
    match = _DELETE_URL.match(url)
    if match is None:
        if re.match(r"^(?:.*/)?[A-Z][A-Za-z]+/[^/]+$", url):
            raise _Malformed(R.FHIR__NOT_ADVERSE_EVENT, f"DELETE {url!r} is not for an AdverseEvent")
        raise _Malformed(R.FHIR__INVALID_VALUE, f"DELETE url {url!r}; expected AdverseEvent/<id>")
    if not record.bundle_time:
        raise _missing("Bundle.timestamp", f"DELETE AdverseEvent/{match.group(1)} in a Bundle without timestamp or "
                                           "meta.lastUpdated; expected the time of the deletion")
    row = dict.fromkeys(COLUMNS, "")
    row.update(ResourceId=match.group(1), LastUpdated=_utc_seconds(record.bundle_time, "Bundle.timestamp"),
               Deleted="true")
    return row


def _event_rows(event: dict[str, Any], supported: frozenset[int], fallbacks: _Fallbacks) -> list[dict[str, str]]:
    resource_id = event.get("id")
    if not isinstance(resource_id, str) or not resource_id.strip():
        raise _missing("id", "AdverseEvent without id; expected the LFPSE resource id")
    label = f"AdverseEvent {resource_id}"
    version = _taxonomy_version(event, label)
    if version not in supported:
        raise _Malformed(R.FHIR__UNSUPPORTED_TAXONOMY, f"{label}: taxonomy version {version}; expected one of "
                                                      f"{sorted(supported)}")
    contained = [c for c in event.get("contained") or [] if isinstance(c, dict)]
    holders = [event, *(c for c in contained if c.get("resourceType") != "Patient")]
    row = dict.fromkeys(COLUMNS, "")
    row.update(ResourceId=resource_id, TaxonomyVersion=str(version), Deleted="false")
    meta = event.get("meta")
    last_updated = meta.get("lastUpdated") if isinstance(meta, dict) else None
    if last_updated:
        row["LastUpdated"] = _utc_seconds(last_updated, f"{label}: meta.lastUpdated")
    elif fallbacks.bundle_time:
        row["LastUpdated"] = _utc_seconds(fallbacks.bundle_time, f"{label}: Bundle.timestamp")
        fallbacks.notes.append((R.FHIR__VERSION_TIME_FALLBACK, "meta.lastUpdated", "(absent): Bundle.timestamp used",
                                "meta.lastUpdated"))
    else:
        row["LastUpdated"] = fallbacks.file_time
        fallbacks.notes.append((R.FHIR__VERSION_TIME_FALLBACK, "meta.lastUpdated",
                                "(absent): the export file's time used", "meta.lastUpdated"))
    row["EventType"] = _event_type(event, label, fallbacks)
    date_value = event.get("date")
    if date_value is not None:
        if not isinstance(date_value, str):
            raise _Malformed(R.FHIR__INVALID_VALUE, f"{label}: date is not a string; expected a FHIR dateTime")
        match = _DATE_PREFIX.match(date_value)
        row["EventDate"] = match.group(1) if match else date_value  # kept as sent: the transform names it
        row["EventTime"] = (match.group(2) or "") if match else ""
    description = event.get("description")
    if description is not None:
        if not isinstance(description, str):
            raise _Malformed(R.FHIR__INVALID_VALUE, f"{label}: description is not a string")
        row["Description"] = description
    for field in EVENT_FIELDS:
        row[field.column] = _value(_nested(holders, field, version, label), field, label)
    if not row["EventTime"] and row["PreciseTime"]:
        precise = _TIME_PREFIX.match(row["PreciseTime"])
        row["EventTime"] = precise.group(1) if precise else row["PreciseTime"]
    del row["PreciseTime"]
    today = _DATE_PREFIX.match(row["TodaysDate"])
    if today:
        row["TodaysDate"] = today.group(1)
    for column in ("ReferenceNumber", "DataSharingOptOut"):
        if not row[column]:
            raise _missing(column, f"{label}: no {column} in adverse-event-reference-metadata-{version}")
    patients = [_patient(p, version, label) for p in contained if p.get("resourceType") == "Patient"]
    if not patients:
        return [row]
    seen: dict[int, int] = {}
    for values in patients:
        sequence = int(values["PatientSequence"])
        seen[sequence] = seen.get(sequence, 0) + 1
    repeated = sorted(s for s, n in seen.items() if n > 1)
    if repeated:
        raise _Malformed(R.FHIR__INVALID_VALUE, f"{label}: PatientSequence {repeated} used by more than one "
                                               "patient; expected one sequence number per patient")
    patients.sort(key=lambda values: int(values["PatientSequence"]))
    return [{**row, **values} for values in patients]


def _local_reference(record: _Record, spec: FhirLocalReference) -> str:
    """The provider's own (LRMS) reference an LFPSE record carries, where the profile says it is: an
    ``AdverseEvent.identifier`` (0..1 in STU3; a list is accepted) with the configured system, or a nested
    extension. Empty when absent (a record entered straight into LFPSE has none) and for a deletion."""
    resource = record.item
    if not isinstance(resource, dict) or resource.get("resourceType") != "AdverseEvent":
        return ""
    if spec.identifier_system is not None:
        found = resource.get("identifier")
        identifiers = found if isinstance(found, list) else [found]
        values = sorted({str(i["value"]) for i in identifiers if isinstance(i, dict)
                         and i.get("system") == spec.identifier_system and isinstance(i.get("value"), str)
                         and i["value"].strip()})
        if len(values) > 1:
            raise _Malformed(R.FHIR__INVALID_VALUE, f"AdverseEvent {resource.get('id')}: {len(values)} identifiers "
                                                   f"with system {spec.identifier_system}; expected at most one")
        return values[0] if values else ""
    assert spec.extension is not None and spec.url is not None
    field = _Field(spec.column, spec.extension, spec.url)
    label = f"AdverseEvent {resource.get('id')}"
    contained = [c for c in resource.get("contained") or [] if isinstance(c, dict)]
    holders = [resource, *(c for c in contained if c.get("resourceType") != "Patient")]
    return _value(_nested(holders, field, _taxonomy_version(resource, label), label), field, label)


def _taxonomy_version(event: dict[str, Any], label: str) -> int:
    """From meta.profile, else the LFPSE extension urls; all of them must agree."""
    meta = event.get("meta")
    profiles = (meta.get("profile") if isinstance(meta, dict) else None) or []
    if isinstance(profiles, str):
        profiles = [profiles]
    from_profile = {int(m.group(1)) for p in profiles if isinstance(p, str) and (m := _PROFILE_URL.search(p))}
    from_extensions: set[int] = set()
    for holder in [event, *(c for c in event.get("contained") or [] if isinstance(c, dict))]:
        for ext in _extensions(holder):
            m = _EXTENSION_URL.search(str(ext.get("url", "")))
            if m and m.group(1) in LFPSE_EXTENSIONS:
                from_extensions.add(int(m.group(2)))
    if not from_profile and not from_extensions:
        raise _Malformed(R.FHIR__NOT_LFPSE, f"{label}: no patient-safety-adverse-event-N profile and no LFPSE "
                                           "extension; expected an LFPSE record")
    versions = from_profile | from_extensions
    if len(versions) > 1:
        raise _Malformed(R.FHIR__MIXED_TAXONOMY, f"{label}: taxonomy versions {sorted(versions)} (profile "
                                                f"{sorted(from_profile)}, extensions {sorted(from_extensions)}); "
                                                "expected one version")
    return versions.pop()


def _event_type(event: dict[str, Any], label: str, fallbacks: _Fallbacks) -> str:
    """STU3 ``AdverseEvent.type`` (R4 renamed it ``event``, which some v6 senders use): its coding's code; else
    the STU3 ``category`` (``AE`` incident, ``PAE`` risk), noted as a warning."""
    codes: list[str] = []
    for element in ("type", "event"):
        concept = event.get(element)
        if isinstance(concept, dict):
            codes += [c["code"] for c in concept.get("coding") or []
                      if isinstance(c, dict) and isinstance(c.get("code"), str) and c["code"].strip()]
    distinct = sorted(set(codes))
    if not distinct:
        category = event.get("category")
        if isinstance(category, str) and category.strip() in CATEGORY_EVENT_TYPES:
            chosen = CATEGORY_EVENT_TYPES[category.strip()]
            fallbacks.notes.append((R.FHIR__EVENT_TYPE_FROM_CATEGORY, "category",
                                    f"no type.coding.code; category {category.strip()} read as {chosen}",
                                    "type.coding.code"))
            return chosen
        found = f" (category {category!r} is neither AE nor PAE)" if category is not None else ""
        raise _missing("event type", f"{label}: no event type: no type.coding.code and no STU3 category{found}; "
                                     "expected incident, outcome, risk or goodCare")
    if len(distinct) > 1:
        raise _Malformed(R.FHIR__INVALID_VALUE, f"{label}: several event types {distinct}; expected one")
    return distinct[0]


def _patient(patient: dict[str, Any], version: int, label: str) -> dict[str, str]:
    values = {f.column: _value(_nested([patient], f, version, label), f, label) for f in PATIENT_FIELDS}
    sequence = values["PatientSequence"]
    if not sequence:
        raise _missing("PatientSequence", f"{label}: a contained Patient has no PatientSequence in "
                                          f"{PATIENT_EXTENSION}-{version}; expected 1, 2, 3, ...")
    if not sequence.isdigit():
        raise _Malformed(R.FHIR__INVALID_VALUE, f"{label}: PatientSequence is not a whole number")
    return values


# --- extensions ------------------------------------------------------------------------------------------------

def _extensions(holder: dict[str, Any]) -> list[dict[str, Any]]:
    found = holder.get("extension") or []
    return [e for e in found if isinstance(e, dict)] if isinstance(found, list) else []


def _url_is(url: object, name: str, version: int) -> bool:
    return _parsed_url(str(url)) == (name, version)


@functools.lru_cache(maxsize=4096)
def _parsed_url(url: str) -> tuple[str, int] | None:
    """An extension url's name and taxonomy version (an export repeats a few hundred urls millions of times)."""
    m = _EXTENSION_URL.search(url)
    return (m.group(1), int(m.group(2))) if m is not None else None


def _nested(holders: list[dict[str, Any]], field: _Field, version: int, label: str) -> list[dict[str, Any]]:
    """The nested extensions named ``field.url`` inside the (single) ``field.extension``-version extension."""
    parents = [e for h in holders for e in _extensions(h) if _url_is(e.get("url"), field.extension, version)]
    if len(parents) > 1:
        raise _Malformed(R.FHIR__INVALID_VALUE, f"{label}: extension {field.extension}-{version} appears "
                                               f"{len(parents)} times; expected at most once")
    if not parents:
        return []
    return [e for e in _extensions(parents[0]) if _sub_url(e.get("url")) == field.url]


def _sub_url(url: object) -> str:
    """Nested urls are plain names (``PatientSequence``); a full url ending in ``/PatientSequence`` also counts."""
    return url.rsplit("/", 1)[-1] if isinstance(url, str) and "/" in url else str(url)


def _value(nested: list[dict[str, Any]], field: _Field, label: str) -> str:
    values = [v for v in (_scalar(e, field, label) for e in nested) if v != ""]
    if len(values) > 1 and not field.many:
        raise _Malformed(R.FHIR__INVALID_VALUE, f"{label}: {field.column} appears {len(values)} times; expected "
                                               "at most one value")
    return "|".join(values)


_STRING_VALUES = ("valueCode", "valueString", "valueDate", "valueDateTime", "valueTime", "valueId", "valueUri",
                  "valueInstant")
_INTEGER_VALUES = ("valueInteger", "valuePositiveInt", "valueUnsignedInt")


def _scalar(ext: dict[str, Any], field: _Field, label: str) -> str:
    """One nested extension's value as text; booleans as LFPSE yes/no codes ``y``/``n``."""
    keys = [k for k in ext if k.startswith("value")]
    if not keys:
        return ""
    if len(keys) > 1:
        raise _Malformed(R.FHIR__INVALID_VALUE, f"{label}: {field.column} has several values {keys}; expected one")
    key, value = keys[0], ext[keys[0]]
    wrong = _Malformed(R.FHIR__INVALID_VALUE, f"{label}: {field.column} {key} holds a JSON "
                                             f"{type(value).__name__}; expected a {key[5:]}")
    if key == "valueBoolean":
        if not isinstance(value, bool):
            raise wrong
        return "y" if value else "n"
    if key in _INTEGER_VALUES or key == "valueDecimal":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise wrong
        return str(value)
    if key in _STRING_VALUES:
        if not isinstance(value, str):
            raise wrong
        return value
    if key in ("valueCoding", "valueCodeableConcept"):
        codings = [value] if key == "valueCoding" else (value.get("coding") if isinstance(value, dict) else None)
        codes = sorted({str(c["code"]) for c in codings or [] if isinstance(c, dict) and isinstance(c.get("code"),
                                                                                                    str)})
        if len(codes) != 1:
            raise wrong
        return str(codes[0])
    raise _Malformed(R.FHIR__INVALID_VALUE, f"{label}: {field.column} is a {key[5:]}; expected a code, string, "
                                           "integer, boolean or date")


def _utc_seconds(value: object, what: str) -> str:
    """A FHIR instant as naive UTC to the second, so the profile needs one datetime format."""
    match = _INSTANT.match(value) if isinstance(value, str) else None
    if match is None:
        raise _Malformed(R.FHIR__INVALID_VALUE, f"{what} is {value!r}; expected an instant with a time zone, "
                                               "e.g. 2026-10-30T14:05:09+01:00")
    zone = "+00:00" if match.group(2) == "Z" else match.group(2)
    try:
        moment = dt.datetime.fromisoformat(match.group(1) + zone)
    except ValueError:
        raise _Malformed(R.FHIR__INVALID_VALUE, f"{what} is {value!r}, which is not a real date and time") from None
    return moment.astimezone(dt.UTC).replace(tzinfo=None).isoformat(timespec="seconds")
