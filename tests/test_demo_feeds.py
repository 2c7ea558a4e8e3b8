"""The demo-feed generator: deterministic bytes, real-world encodings and quirks, and planted defects whose counts
the manifest states exactly.

The rows are checked here by an independent re-reading (own modulus 11, own date and code checks) rather than by
the project's transform, so a bug shared by generator and transform cannot hide itself.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import re
from collections import Counter
from pathlib import Path

import pytest

from demo.feeds import generate_demo_feeds, main
from psirf import settings
from psirf.registry import Provider, load_registry
from transforms.fields import ENTITY_FIELDS
from transforms.profile import MappingProfile, load_profile

ANCHOR = dt.date(2026, 10, 31)
INCIDENT_COUNTS = {
    "nhs_number.invalid_check_digit": 4, "nhs_number.scientific_notation": 2, "date.unparseable": 3,
    "date.in_future": 2, "date.placeholder": 2, "code.unknown": 3, "required.missing": 3,
    "record.rejected_in_source": 2,
}
ACTION_COUNTS = {"required.missing": 2, "code.unknown": 2, "date.unparseable": 2}
NHS_IN_TEXT = re.compile(r"(?<!\d)(\d{3}) ?(\d{3}) ?(\d{4})(?!\d)")
POSTCODE_IN_TEXT = re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2}\b", re.IGNORECASE)
PHONE_IN_TEXT = re.compile(r"(?<!\d)(?:\+44\s?|0)\d{2,4}[\s-]?\d{3,4}[\s-]?\d{3,4}(?!\d)")
SCIENTIFIC = re.compile(r"^[+-]?\d+(\.\d+)?[eE][+-]?\d+$")
TIME = re.compile(r"^([01]\d|2[0-3]):?[0-5]\d$")


def mod11_ok(number: str) -> bool:
    """Independent NHS number check: digits 1-9 weighted 10..2, check = 11 - sum mod 11 (11 -> 0, 10 -> invalid)."""
    if len(number) != 10 or not number.isdigit():
        return False
    check = 11 - sum(int(d) * w for d, w in zip(number[:9], range(10, 1, -1), strict=True)) % 11
    if check == 11:
        check = 0
    return check != 10 and check == int(number[9])


def test_mod11_helper_against_known_numbers() -> None:
    assert mod11_ok("9434765919")
    assert not mod11_ok("9434765918")
    assert not mod11_ok("943476591")


# --- fixtures ------------------------------------------------------------------------------------------------



@pytest.fixture(scope="module", autouse=True)
def _five_csv_trusts(all_csv_registry: Path) -> None:
    """These tests are about CSV exports: use the registry where every trust sends them."""

@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, list[Provider]]:
    home = tmp_path_factory.mktemp("demo")
    providers = load_registry(settings.registry_path(), home=home)
    manifest = generate_demo_feeds(home)
    return home, manifest, providers


def profile_of(manifest: dict, ods: str) -> MappingProfile:
    return load_profile(manifest["providers"][ods]["profile"], settings.profiles_dir())


def read_rows(home: Path, entry: dict) -> tuple[list[str], list[list[str]]]:
    text = (home / entry["path"]).read_bytes().decode(entry["encoding"])
    rows = list(csv.reader(io.StringIO(text, newline="")))
    return rows[0], rows[1:]


# --- independent checks --------------------------------------------------------------------------------------


class Checker:
    """Re-reads a file as the transform should, rule by rule, using only the mapping profile."""

    def __init__(self, profile: MappingProfile, entity: str) -> None:
        self.profile = profile
        self.mapping = profile.entity(entity)

    def date(self, text: str, fmt: str | None = None) -> dt.date | dt.datetime | None:
        fmt = fmt or self.profile.date_format
        try:
            value = dt.datetime.strptime(text, fmt)
        except ValueError:
            return None
        return value if fmt == self.profile.datetime_format else value.date()

    def code_ok(self, fld: str, text: str) -> bool:
        label = " ".join(text.split())
        for pattern in self.profile.label_prefix_patterns:
            label = pattern.sub("", label).strip()
        return label.casefold() in {" ".join(k.split()).casefold() for k in self.mapping.code_labels[fld]}

    def date_rule(self, text: str) -> str | None:
        if not text:
            return None
        value = self.date(text)
        if value is None:
            return "date.unparseable"
        if value < dt.date(1990, 1, 1):
            return "date.placeholder"
        if value > ANCHOR:
            return "date.in_future"
        return None

    def problems(self, v: dict[str, str]) -> list[str]:
        """Every rule the row breaks, plus consistency problems (reported as 'consistency:...')."""
        found: list[str] = []
        for fld, spec in ENTITY_FIELDS[self.mapping.entity].items():
            if spec.required and fld in self.mapping.columns and not v.get(fld, "").strip():
                found.append("required.missing")
        for fld in ("occurred_date", "reported_date", "agreed_date", "due_date", "revised_due_date",
                    "completed_date"):
            if fld in self.mapping.columns and (rule := self.date_rule(v.get(fld, ""))):
                found.append(rule)
        for fld in self.mapping.code_labels:
            if v.get(fld, "").strip() and not self.code_ok(fld, v[fld]):
                found.append("code.unknown")
        nhs = v.get("nhs_number", "").strip()
        if nhs:
            if SCIENTIFIC.match(nhs):
                found.append("nhs_number.scientific_notation")
            elif not mod11_ok(nhs.replace(" ", "")):
                found.append("nhs_number.invalid_check_digit" if len(nhs.replace(" ", "")) == 10
                             else "nhs_number.bad_format")
        rejected = self.mapping.rejected_when
        if rejected and v.get(rejected.field, "") in rejected.values:
            found.append("record.rejected_in_source")
        if v.get("occurred_time") and not TIME.match(v["occurred_time"]):
            found.append("time.unparseable")
        bools = self.profile.true_values | self.profile.false_values
        for fld in ("duty_of_candour", "is_system_wide"):
            if v.get(fld) and v[fld].casefold() not in bools:
                found.append("bool.unparseable")
        if v.get("source_updated_at"):
            stamp = self.date(v["source_updated_at"], self.profile.datetime_format)
            if stamp is None or stamp > dt.datetime.combine(ANCHOR, dt.time(23, 59, 59)):
                found.append("consistency:updated_at")
        found.extend(self.order_problems(v))
        return found

    def order_problems(self, v: dict[str, str]) -> list[str]:
        d = {k: self.date(v[k]) for k in ("occurred_date", "reported_date", "date_of_birth", "agreed_date",
                                          "due_date", "completed_date", "revised_due_date") if v.get(k)}
        pairs = [("occurred_date", "reported_date"), ("date_of_birth", "occurred_date"), ("agreed_date", "due_date"),
                 ("agreed_date", "completed_date"), ("due_date", "revised_due_date")]
        out = []
        for before, after in pairs:
            a, b = d.get(before), d.get(after)
            if a is not None and b is not None and a > b:
                out.append(f"consistency:{before}>{after}")
        if d.get("date_of_birth") is None and v.get("date_of_birth"):
            out.append("consistency:dob_unparseable")
        return out


def classify_file(home: Path, entry: dict, profile: MappingProfile, entity: str) -> dict:
    header, rows = read_rows(home, entry)
    checker = Checker(profile, entity)
    index = {fld: header.index(col) for fld, col in checker.mapping.columns.items()}
    seen: set[tuple[str, ...]] = set()
    result: dict = {"duplicates": 0, "by_rule": Counter(), "loaded": [], "multi": [], "duplicate_rows": []}
    for row in rows:
        assert len(row) == len(header)
        key = tuple(row)
        if key in seen:
            result["duplicates"] += 1
            result["duplicate_rows"].append(row)
            continue
        seen.add(key)
        v = {fld: row[i] for fld, i in index.items()}
        problems = checker.problems(v)
        assert not [p for p in problems if p.startswith("consistency:")], (problems, v)
        if len(problems) > 1:
            result["multi"].append((problems, v))
        if problems:
            result["by_rule"][problems[0]] += 1
        else:
            result["loaded"].append(v)
    return result


# --- tests ---------------------------------------------------------------------------------------------------


def test_rerun_is_byte_identical(tmp_path: Path) -> None:
    def digests(home: Path) -> dict[str, str]:
        return {p.relative_to(home).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(home.rglob("*")) if p.is_file()}

    first = generate_demo_feeds(tmp_path / "a")
    second = generate_demo_feeds(tmp_path / "b")
    assert first == second
    a, b = digests(tmp_path / "a"), digests(tmp_path / "b")
    assert a == b and len(a) == 11  # 5 providers x 2 files + manifest
    assert generate_demo_feeds(tmp_path / "a") == first and digests(tmp_path / "a") == a  # rerun in place
    generate_demo_feeds(tmp_path / "c", seed=1)
    assert digests(tmp_path / "c") != a  # the seed, not the clock, is what varies the content


def test_files_are_named_after_globs_and_manifest_is_written(out: tuple[Path, dict, list[Provider]]) -> None:
    home, manifest, providers = out
    assert manifest["seed"] == 20261127 and manifest["anchor_date"] == "2026-10-31"
    assert json.loads((home / "demo_feeds" / "manifest.json").read_text(encoding="utf-8")) == manifest
    assert list(manifest["providers"]) == [p.ods_code for p in providers]
    for p in providers:
        files = manifest["providers"][p.ods_code]["files"]
        assert set(files) == {"incidents", "safety_actions"}
        for entity, entry in files.items():
            found = list(p.feed.path.glob(p.feed.globs[entity]))
            assert [f.name for f in found] == [p.feed.globs[entity].replace("*", "20261031")]
            assert (home / entry["path"]) == found[0] and not Path(entry["path"]).is_absolute()


def test_encodings_follow_the_profile(out: tuple[Path, dict, list[Provider]]) -> None:
    home, manifest, _ = out
    seen = set()
    for ods, prov in manifest["providers"].items():
        web = "web" in profile_of(manifest, ods).source_system
        for entry in prov["files"].values():
            data = (home / entry["path"]).read_bytes()
            if web:
                assert entry["encoding"] == "cp1252"
                text = data.decode("cp1252")
                with pytest.raises(UnicodeDecodeError):
                    data.decode("utf-8")
                assert not data.startswith(b"\xef\xbb\xbf")
            else:
                assert entry["encoding"] == "utf-8-sig"
                assert data.startswith(b"\xef\xbb\xbf")
                text = data.decode("utf-8-sig")
            assert data.endswith(b"\r\n") and b"\n" not in data.split(b"\r\n", 1)[0]  # CRLF row endings
            seen.add(entry["encoding"])
            assert any(ord(c) > 127 for c in text)
    assert seen == {"cp1252", "utf-8-sig"}
    inc = (home / manifest["providers"]["RAJ"]["files"]["incidents"]["path"]).read_bytes().decode("cp1252")
    assert all(ch in inc for ch in "\u00a3\u2013\u2019\u00eb")  # pound, en dash, curly apostrophe, e-diaeresis


def test_free_text_has_multi_line_fields_that_parse_back(out: tuple[Path, dict, list[Provider]]) -> None:
    home, manifest, _ = out
    for ods, prov in manifest["providers"].items():
        entry = prov["files"]["incidents"]
        header, rows = read_rows(home, entry)
        assert len(rows) == entry["rows_in"]
        col = header.index(profile_of(manifest, ods).entity("incidents").columns["description"])
        multi = [r[col] for r in rows if "\n" in r[col]]
        assert len(multi) >= len(rows) // 5
        raw = (home / entry["path"]).read_bytes().decode(entry["encoding"])
        assert all(f'"{cell}"' in raw for cell in multi)  # quoted, line breaks kept inside the quotes


def test_manifest_counts_are_consistent_and_exact(out: tuple[Path, dict, list[Provider]]) -> None:
    _, manifest, _ = out
    for prov in manifest["providers"].values():
        for entity, entry in prov["files"].items():
            assert entry["rows_in"] == entry["expected_loaded"] + entry["expected_quarantined"] + \
                entry["expected_duplicates"]
            assert sum(entry["quarantined_by_rule"].values()) == entry["expected_quarantined"]
            if entity == "incidents":
                assert entry["quarantined_by_rule"] == INCIDENT_COUNTS
                assert (entry["rows_in"], entry["expected_loaded"], entry["expected_duplicates"]) == (205, 179, 5)
                assert entry["free_text_with_identifiers"] == 3
                assert 100 < entry["with_nhs_number"] < entry["expected_loaded"]
            else:
                assert entry["quarantined_by_rule"] == ACTION_COUNTS and entry["expected_duplicates"] == 3
                assert 1.2 < entry["expected_loaded"] / 179 < 1.8  # about 1.5 actions per loaded incident


@pytest.mark.parametrize("entity", ["incidents", "safety_actions"])
def test_planted_defects_are_real_and_alone(out: tuple[Path, dict, list[Provider]], entity: str) -> None:
    home, manifest, _ = out
    for ods, prov in manifest["providers"].items():
        entry = prov["files"][entity]
        got = classify_file(home, entry, profile_of(manifest, ods), entity)
        assert got["multi"] == [], f"{ods}: rows breaking more than one rule"
        assert dict(got["by_rule"]) == entry["quarantined_by_rule"], ods
        assert got["duplicates"] == entry["expected_duplicates"]
        assert len(got["loaded"]) == entry["expected_loaded"]
        if entity == "incidents":
            assert sum(1 for v in got["loaded"] if v.get("nhs_number")) == entry["with_nhs_number"]


def test_invalid_nhs_numbers_fail_mod11_and_valid_ones_pass(out: tuple[Path, dict, list[Provider]]) -> None:
    home, manifest, _ = out
    for ods, prov in manifest["providers"].items():
        header, rows = read_rows(home, prov["files"]["incidents"])
        col = header.index(profile_of(manifest, ods).entity("incidents").columns["nhs_number"])
        values = [r[col] for r in rows if r[col]]
        scientific = [v for v in values if SCIENTIFIC.match(v)]
        digits = [v.replace(" ", "") for v in values if not SCIENTIFIC.match(v)]
        assert len(scientific) == 2 and all("E+" in v and 9e9 <= float(v) <= 1e10 for v in scientific)
        assert all(len(d) == 10 and d.isdigit() for d in digits)
        assert sum(not mod11_ok(d) for d in digits) == 4
        assert any(" " in v for v in values)  # the 943 476 5919 spacing occurs, and is valid
        assert len(values) < len(rows)  # some rows carry no NHS number at all


def test_duplicates_are_byte_identical_copies_of_earlier_valid_rows(
        out: tuple[Path, dict, list[Provider]]) -> None:
    home, manifest, _ = out
    for ods, prov in manifest["providers"].items():
        for entity, entry in prov["files"].items():
            got = classify_file(home, entry, profile_of(manifest, ods), entity)
            data = (home / entry["path"]).read_bytes()
            codec = "utf-8" if entry["encoding"] == "utf-8-sig" else entry["encoding"]  # no BOM mid-file
            assert len(got["duplicate_rows"]) == entry["expected_duplicates"]
            for row in got["duplicate_rows"]:
                buf = io.StringIO(newline="")
                csv.writer(buf, lineterminator="\r\n").writerow(row)
                assert data.count(b"\r\n" + buf.getvalue().encode(codec)) == 2
                assert not Checker(profile_of(manifest, ods), entity).problems(
                    {f: row[i] for f, i in _index(home, entry, ods, manifest, entity).items()})


def _index(home: Path, entry: dict, ods: str, manifest: dict, entity: str) -> dict[str, int]:
    header, _ = read_rows(home, entry)
    return {f: header.index(c) for f, c in profile_of(manifest, ods).entity(entity).columns.items()}


def test_free_text_identifiers_only_where_counted(out: tuple[Path, dict, list[Provider]]) -> None:
    home, manifest, _ = out
    for ods, prov in manifest["providers"].items():
        profile = profile_of(manifest, ods)
        for entity, entry in prov["files"].items():
            got = classify_file(home, entry, profile, entity)
            free = [f for f in ("description", "action_taken", "lessons_learned", "effectiveness_measure")
                    if f in profile.entity(entity).columns]
            with_ids = 0
            for v in got["loaded"]:
                text = " ".join(v[f] for f in free)
                nhs = NHS_IN_TEXT.search(text)
                if nhs:
                    assert mod11_ok("".join(nhs.groups())) and POSTCODE_IN_TEXT.search(text)
                    with_ids += 1
                else:
                    assert not POSTCODE_IN_TEXT.search(text) and not PHONE_IN_TEXT.search(text), text
            assert with_ids == entry["free_text_with_identifiers"]


def test_unmapped_pii_columns_are_present_but_not_mapped(out: tuple[Path, dict, list[Provider]]) -> None:
    home, manifest, _ = out
    for ods, prov in manifest["providers"].items():
        profile = profile_of(manifest, ods)
        header, rows = read_rows(home, prov["files"]["incidents"])
        extra = [c for c in header if c not in profile.entity("incidents").columns.values()]
        expected = ["Patient Name", "Address", "Postcode"] if "web" in profile.source_system else \
            ["con_forenames", "con_surname", "con_postcode"]
        assert extra == expected
        assert sum(1 for r in rows if r[header.index(extra[-1])]) > len(rows) // 2
        assert set(profile.entity("incidents").columns.values()) <= set(header)
        actions_header, _ = read_rows(home, prov["files"]["safety_actions"])
        assert actions_header == list(profile.entity("safety_actions").columns.values())


def test_datix_quirks_are_present_in_valid_rows(out: tuple[Path, dict, list[Provider]]) -> None:
    home, manifest, _ = out
    labels: list[str] = []
    times: list[str] = []
    days: list[int] = []
    for ods, prov in manifest["providers"].items():
        profile = profile_of(manifest, ods)
        got = classify_file(home, prov["files"]["incidents"], profile, "incidents")
        for v in got["loaded"]:
            labels += [v[f] for f in ("category", "physical_harm", "gender") if v.get(f)]
            times.append(v["occurred_time"])
            days.append(int(v["occurred_date"][:2]))
        rejected = profile.entity("incidents").rejected_when
        assert rejected is not None
        actions = classify_file(home, prov["files"]["safety_actions"], profile, "safety_actions")
        incident_ids = {v["source_record_id"] for v in got["loaded"]}
        assert {v["incident_source_record_id"] for v in actions["loaded"]} <= incident_ids
        assert all(v["completed_date"] for v in actions["loaded"]
                   if profile.entity("safety_actions").code_labels["status"].get(v["status"].strip()) == "completed")
    assert any(t and ":" in t for t in times) and any(t and ":" not in t for t in times)
    assert any(d <= 12 for d in days)  # dd/mm ambiguity: 03/04/2026 is 3 April
    assert any(label != label.strip() for label in labels)
    assert any("  " in label.strip() for label in labels)
    assert any(label.startswith("(Old Code, deactivated") for label in labels)


def test_defect_counts_scale_with_n(tmp_path: Path) -> None:
    registry = load_registry(settings.registry_path(), home=tmp_path)
    manifest = generate_demo_feeds(tmp_path, registry[:2], incidents_per_provider=400)
    assert list(manifest["providers"]) == [p.ods_code for p in registry[:2]]
    entry = manifest["providers"][registry[0].ods_code]["files"]["incidents"]
    assert entry["quarantined_by_rule"] == {k: 2 * v for k, v in INCIDENT_COUNTS.items()}
    assert (entry["rows_in"], entry["expected_duplicates"], entry["free_text_with_identifiers"]) == (410, 10, 6)


def test_main_prints_one_line_per_provider(tmp_path: Path) -> None:
    lines: list[str] = []
    assert main([str(tmp_path)], echo=lines.append) == 0
    assert len(lines) == 6 and lines[0].startswith("RAJ [datix_web_listing_v1]: incidents 205 rows")
    assert (tmp_path / "demo_feeds" / "manifest.json").is_file()


def test_the_demo_command_make_run_calls_generates_every_registered_feed(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """`make run` starts with `python -m demo feeds` on the shipped registry: it must print a line for every feed
    (the five trusts, the GP practices' LFPSE export and the trusts' national LFPSE record), not stop on one."""
    from typer.testing import CliRunner

    from demo.__main__ import app

    monkeypatch.setenv("PSIRF_REGISTRY", str(settings.CONFIG_DIR / "providers.toml"))
    result = CliRunner().invoke(app, ["feeds", "--home", str(tmp_path)])
    assert result.exit_code == 0, result.output
    printed = {line.split(":")[0] for line in result.output.splitlines() if ":" in line}
    assert printed == {p.ods_code for p in load_registry() if p.enabled}
    assert "X24: lfpse_trusts_" in result.output
