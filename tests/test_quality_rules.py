"""The rule catalogue and the checks that use it: every rule is explained, every check names a catalogued rule."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from expectations import raw_suites, warehouse_suites
from expectations.dq_checks import canonical_checks, scores
from expectations.rules import DIMENSIONS, RULES
from psirf.errors import ConfigError
from psirf.settings import CONFIG_DIR
from reports.email import parse_smtp_url, recipients_for
from transforms.profile import load_profile


def test_every_rule_has_a_dimension_severity_description_and_fix():
    for rule_id, rule in RULES.items():
        assert rule.rule_id == rule_id
        assert rule.dimension in DIMENSIONS, rule_id
        assert rule.severity in ("error", "warning"), rule_id
        assert rule.description.endswith(".") and rule.how_to_fix.endswith("."), rule_id
    assert {r.dimension for r in RULES.values()} == set(DIMENSIONS)


@pytest.mark.parametrize("profile", ["datix_web_listing_v1", "datix_cloud_listing_v1"])
def test_every_check_names_a_rule_in_the_catalogue(profile):
    loaded = load_profile(profile, CONFIG_DIR / "profiles")
    checked = {rule_id for entity in ("incidents", "safety_actions")
               for _, rule_id, _ in canonical_checks(entity, loaded, dt.datetime(2026, 1, 1))}
    checked |= {e.meta["rule_id"] for e in raw_suites.raw_expectations(["a"], raw_suites.row_count_band([5, 5, 5]))}
    checked |= {e.meta["rule_id"] for t in warehouse_suites.QUERIES for e in warehouse_suites.expectations(t)}
    assert checked - set(RULES) == set()
    assert {"code.unknown", "nhs_number.invalid_check_digit", "raw.column_missing", "raw.row_count_unusual",
            "warehouse.orphan_action", "never_event.no_response"} <= checked


def test_row_count_band_needs_history_and_flags_a_collapse_in_volume():
    assert raw_suites.row_count_band([100, 100]) is None
    frame = pd.DataFrame({"a": ["x"] * 10}, dtype="string")
    results = raw_suites.check_raw("incidents", frame, "utf-8", ["a", "b"], [100, 90, 110]).set_index(
        ["rule_id", "field"], drop=False)
    assert results.loc[("raw.row_count_unusual", None), "rows_failed"].item() == 1
    assert results.loc[("raw.column_missing", "b"), "rows_failed"].item() == 1
    assert results.loc[("raw.column_missing", "a"), "rows_failed"].item() == 0
    assert results.loc[("batch.empty", None), "rows_failed"].item() == 0
    normal = raw_suites.check_raw("incidents", frame, "cp1252", ["a"], [10, 12, 9])
    assert normal["rows_failed"].sum() == 0


def test_a_failed_blocking_whole_file_rule_scores_its_dimension_zero():
    results = pd.DataFrame([
        {"layer": "raw", "suite": "raw.incidents", "rule_id": "raw.column_missing", "field": "Actual Harm",
         "dimension": "completeness", "severity": "error", "scope": "batch", "rows_evaluated": 1, "rows_failed": 1},
        {"layer": "canonical", "suite": "canonical.incidents", "rule_id": "code.unknown", "field": "Category",
         "dimension": "validity", "severity": "error", "scope": "row", "rows_evaluated": 40, "rows_failed": 4},
    ])
    got = scores(results).set_index("dimension")["score"].to_dict()
    assert got == {"completeness": 0.0, "validity": 90.0}


def test_smtp_url_and_recipients(tmp_path):
    s = parse_smtp_url("smtp://feedback%40icb:s3cret@mail.example:2525?starttls=true")
    assert (s.host, s.port, s.username, s.password, s.starttls, s.use_ssl) == (
        "mail.example", 2525, "feedback@icb", "s3cret", True, False)
    assert "s3cret" not in repr(s)
    with pytest.raises(ConfigError, match="smtp://"):
        parse_smtp_url("http://mail.example")
    path = tmp_path / "r.toml"
    path.write_text('[RAJ]\nto = ["dq@raj.example"]\n[RQW]\nto = "not-a-list"\n', encoding="utf-8")
    assert recipients_for("raj", path) == ["dq@raj.example"]
    assert recipients_for("R1L", path) == []
    with pytest.raises(ConfigError, match=r"\[RQW\]"):
        recipients_for("RQW", path)


def test_product_code_names_rules_from_the_catalogue_never_as_strings():
    """Issue 12: rule ids come from the one catalogue (``expectations.rules.R``); a rule id typed as a string in
    product code could drift from it unnoticed."""
    import ast
    import io
    import tokenize
    from pathlib import Path

    from expectations.rules import RULES

    root = Path(__file__).resolve().parent.parent
    found = []
    for package in ("psirf", "connectors", "transforms", "expectations", "warehouse", "reports", "dags"):
        for path in (root / package).rglob("*.py"):
            if path.name == "rules.py" or "migrations" in path.parts:
                continue
            for token in tokenize.generate_tokens(io.StringIO(path.read_text(encoding="utf-8")).readline):
                if token.type != tokenize.STRING or token.string.lstrip("rRbB")[:1] in "fF":
                    continue
                try:
                    value = ast.literal_eval(token.string)
                except (ValueError, SyntaxError):
                    continue
                if isinstance(value, str) and value in RULES:
                    found.append(f"{path.relative_to(root)}:{token.start[0]}: {value}")
    assert found == []
