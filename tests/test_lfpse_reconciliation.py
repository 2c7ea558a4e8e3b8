"""LFPSE submission reconciliation and PSIRP response compliance on a small hand-built set, on DuckDB and
PostgreSQL: each reconciliation outcome and each compliance status once, an LFPSE record moved outside the match
tolerance, and (PostgreSQL) a provider login seeing only its own reconciliation and compliance rows.
One build per engine serves every test here."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tests.conftest import _pg_database
from tests.marts_builders import incident, insert, learning_response, link, patient, seed_organisations, view
from warehouse.access import apply_access, drop_access, roles_for
from warehouse.db import is_duckdb, make_engine
from warehouse.dbt_project import build
from warehouse.marts import refresh
from warehouse.migrate import upgrade

D = dt.date
TODAY = dt.date.today()


def days(n: int) -> dt.date:
    return TODAY + dt.timedelta(days=n)


def national(rid: str, occurred: dt.date, *, trust: str = "RAJ", reference: str | None = None, **kw: Any
             ) -> dict[str, Any]:
    """A national LFPSE record of ``trust``, as the X24 feed loads it (profile lfpse_fhir_v5_national)."""
    row = incident("X24", rid, occurred, **kw)
    row.update(record_origin="lfpse_national", location_ods=trust, local_reference=reference,
               harm_mapping_basis="lfpse")
    return row


def local(rid: str, occurred: dt.date, *, provider: str = "RAJ", reference: str | None = None, **kw: Any
          ) -> dict[str, Any]:
    row = incident(provider, rid, occurred, **kw)
    row.update(local_reference=reference, record_origin="local", location_ods=None)  # one key set per insert
    return row


def _fill(engine: Engine) -> None:
    seed_organisations(engine)
    a1 = local("a1", D(2026, 1, 5), reference="RAJ/1", reported=D(2026, 1, 6), harm="3", doc=True)
    a2 = local("a2", D(2026, 1, 10), reference="RAJ/2", reported=D(2026, 1, 10), never=False)
    a3 = local("a3", D(2026, 2, 1), reference="RAJ/3", reported=D(2026, 2, 1))
    a4 = local("a4", D(2026, 1, 15), reference="RAJ/4", reported=D(2026, 1, 20))  # never submitted
    a5 = local("a5", D(2026, 2, 27), reference="RAJ/5", reported=D(2026, 3, 1))  # within the window
    n1 = national("n1", D(2026, 1, 5), reference="RAJ/1", reported=D(2026, 1, 7), harm="4", doc=True)
    n2 = national("n2", D(2026, 1, 10), reference="RAJ/2", reported=D(2026, 3, 1), never=True)  # 50 days late
    n3 = national("n3", D(2026, 2, 2), reported=D(2026, 2, 3))  # no LRMS reference: matched by score
    n6 = national("n6", D(2026, 2, 20), reported=D(2026, 3, 10))  # LFPSE only; dates the export 10 March
    # Compliance: Never Events (national requirement: PSII), one per status. RAJ sends learning responses, R1L none.
    c = {k: local(k, D(2025, 12, 1 + n), reported=D(2025, 12, 2 + n), harm="3", never=True)
         for n, k in enumerate(["c_met", "c_progress", "c_overdue", "c_none"])}
    c_r1l = local("c_r1l", D(2025, 12, 9), provider="R1L", reported=D(2025, 12, 10), harm="3", never=True)
    insert(engine, "incident", [a1, a2, a3, a4, a5, n1, n2, n3, n6, *c.values(), c_r1l])
    insert(engine, "incident_patient", [patient(a1, 1, harm="3"), patient(a3, 1), patient(n3, 1)])
    done = learning_response("RAJ", "lr_done", status="completed", commissioned=D(2025, 12, 10),
                             completed=D(2026, 2, 1))
    going = learning_response("RAJ", "lr_going", commissioned=days(-30))
    late = learning_response("RAJ", "lr_late", commissioned=days(-200))
    aar = learning_response("RAJ", "lr_aar", kind="aar", commissioned=days(-10))  # not the type required
    insert(engine, "learning_response", [done, going, late, aar])
    insert(engine, "learning_response_incident", [link(done, c["c_met"]), link(going, c["c_progress"]),
                                                  link(late, c["c_overdue"]), link(aar, c["c_none"])])
    with engine.begin() as conn:
        for n, (ods, entity) in enumerate([("RAJ", "incidents"), ("RAJ", "learning_responses"),
                                           ("R1L", "incidents"), ("X24", "incidents")]):
            conn.execute(sa.text(
                "INSERT INTO batch_ledger (batch_id, provider_ods, entity, source_system, profile, source_file, "
                "checksum, rows_in, loaded, inserted, updated, unchanged, quarantined, duplicates, status, "
                "started_at, finished_at) VALUES (:b, :p, :e, 's', 'p', 'f', :c, 1, 1, 1, 0, 0, 0, 0, 'loaded', "
                ":t, :t)"), {"b": f"b{n}", "p": ods, "e": entity, "c": f"{n:064d}", "t": dt.datetime(2026, 3, 1)})


@pytest.fixture(scope="module", params=[pytest.param("duckdb", id="duckdb"),
                                        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres)])
def built(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Engine, str]]:
    home = tmp_path_factory.mktemp("home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PSIRF_HOME", str(home))
        databases = (iter([f"duckdb:///{home / 'warehouse.duckdb'}"]) if request.param == "duckdb"
                     else _pg_database())
        url = next(databases)
        engine = make_engine(url)
        try:
            upgrade(engine)
            _fill(engine)
            refresh(engine)  # with every dbt test: they must pass on this data too
            yield engine, url
        finally:
            engine.dispose()
            for _ in databases:  # PostgreSQL: drop the database
                pass


def _reconciliation(engine: Engine) -> dict[str, dict[str, Any]]:
    rows = view(engine, "oversight.oversight_lfpse_reconciliation", "reconciliation_key")
    return {f"{r['local_record_id'] or '-'}|{r['lfpse_record_id'] or '-'}": r for r in rows
            if not str(r["local_record_id"] or "").startswith("c_")}


def test_each_reconciliation_outcome_once(built: tuple[Engine, str]) -> None:
    engine, _ = built
    got = {k: (r["reconciliation_status"], r["match_method"], r["match_score"], bool(r["is_submitted_late"]),
               r["harm_disagreement"], r["never_event_disagreement"], r["duty_of_candour_disagreement"])
           for k, r in _reconciliation(engine).items()}
    assert got == {
        "a1|n1": ("matched", "reference", 100, False, True, False, False),  # moderate locally, low nationally
        "a2|n2": ("matched", "reference", 100, True, False, True, False),  # late, Never Event in LFPSE only
        "a3|n3": ("matched", "score", 75, False, False, False, False),  # a day apart, same harm, one patient
        "a4|-": ("local_only_past_window", None, None, False, False, False, False),
        "a5|-": ("local_only_within_window", None, None, False, False, False, False),
        "-|n6": ("lfpse_only", None, None, False, False, False, False),
    }
    pair = _reconciliation(engine)["a1|n1"]
    assert (pair["local_physical_harm"], pair["lfpse_physical_harm"]) == ("Moderate physical harm",
                                                                            "Low physical harm")
    assert pair["as_at_date"] == D(2026, 3, 10)
    raj = {r["provider_ods"]: r for r in view(engine, "oversight.oversight_lfpse_submission_completeness")}["RAJ"]
    # Due: a1-a4 and the four c_ incidents (a5 is still within its window); submitted: a1, a2, a3.
    assert (raj["local_incidents"], raj["due_for_submission"], raj["submitted"], raj["local_only_past_window"],
            raj["local_only_within_window"], raj["lfpse_only"], raj["harm_disagreements"],
            raj["never_event_disagreements"], raj["submitted_late"]) == (9, 8, 3, 5, 1, 1, 1, 1, 1)
    assert float(raj["submission_completeness_pct"]) == 37.5


def test_an_lfpse_record_outside_the_tolerance_is_lfpse_only_and_its_local_record_local_only(
        built: tuple[Engine, str]) -> None:
    engine, url = built
    models = "int_lfpse_matches oversight_lfpse_reconciliation"

    def move(to: dt.date) -> None:
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE incident SET occurred_date = :d WHERE source_record_id = 'n3'"), {"d": to})
        engine.dispose()  # DuckDB: dbt opens the file itself, with its own configuration
        assert build(url, select=models, tests=False).success

    move(D(2026, 2, 5))  # four days after a3: past the three-day tolerance
    try:
        got = {k: r["reconciliation_status"] for k, r in _reconciliation(engine).items() if "3" in k}
        assert got == {"a3|-": "local_only_past_window", "-|n3": "lfpse_only"}
    finally:
        move(D(2026, 2, 2))
    assert _reconciliation(engine)["a3|n3"]["match_method"] == "score"


def test_compliance_statuses(built: tuple[Engine, str]) -> None:
    engine, _ = built
    got = {(r["source_record_id"], r["requirement_id"]): (r["compliance_status"], r["required_response"],
                                                          r["completed_within_time_frame"])
           for r in view(engine, "oversight.oversight_psirp_compliance", "compliance_key")}
    psii = "Patient Safety Incident Investigation (PSII)"
    assert got == {
        ("c_met", "never_event"): ("met", psii, True),
        ("c_progress", "never_event"): ("in_progress", psii, None),
        ("c_overdue", "never_event"): ("overdue", psii, None),
        ("c_none", "never_event"): ("no_response_recorded", psii, None),  # an AAR is linked: not the type needed
        ("c_r1l", "never_event"): ("provider_sends_no_learning_responses", psii, None),  # not supplied
    }
    counts = {(r["provider_ods"], r["requirement_id"]): (r["met"], r["in_progress"], r["overdue"],
                                                         r["no_response_recorded"],
                                                         r["provider_sends_no_learning_responses"])
              for r in view(engine, "oversight.oversight_psirp_compliance_by_provider")}
    assert counts == {("RAJ", "never_event"): (1, 1, 1, 1, 0), ("R1L", "never_event"): (0, 0, 0, 0, 1)}


def test_a_provider_login_sees_only_its_own_reconciliation_and_compliance_rows(built: tuple[Engine, str]) -> None:
    engine, _ = built
    if is_duckdb(engine):
        pytest.skip("DuckDB has no roles or row-level security")
    providers = ["RAJ", "R1L", "X24"]
    prefix = f"psirf_t{uuid.uuid4().hex[:8]}_"
    roles = roles_for(providers, prefix)
    apply_access(engine, providers, prefix)
    try:
        for model in ("oversight_lfpse_reconciliation", "oversight_lfpse_submission_completeness",
                      "oversight_lfpse_completeness_shareable", "oversight_lfpse_harm_disagreements",
                      "oversight_psirp_compliance", "oversight_psirp_compliance_by_provider"):
            with engine.connect() as conn:
                every = conn.execute(sa.text(f"SELECT provider_ods, COUNT(*) FROM oversight.{model} "
                                             "GROUP BY 1")).all()
            for ods in ("RAJ", "R1L"):
                with engine.begin() as conn:
                    conn.exec_driver_sql(f'SET LOCAL ROLE "{roles.providers[ods]}"')
                    seen = conn.execute(sa.text(f"SELECT provider_ods, COUNT(*) FROM oversight.{model} "
                                                "GROUP BY 1")).all()
                # Only its own rows, and all of them (the models are tables built from both records).
                assert sorted(seen) == sorted(r for r in every if r[0] == ods), (model, ods)
    finally:
        drop_access(engine, providers, prefix)


def test_the_worklist_lists_the_models_rows_of_its_provider_only(built: tuple[Engine, str]) -> None:
    """The feedback report's worklist: records to submit, gradings to review and responses overdue are exactly the
    models' rows for the provider, by its own record id; the national-record feed (X24, by its profile's
    record_origin) has none of its own."""
    import pandas as pd

    from reports.provider_feedback import Feedback, render_html, summary_text
    from reports.worklist import for_provider

    engine, _ = built
    recon = view(engine, "oversight.oversight_lfpse_reconciliation", "reconciliation_key")
    compliance = view(engine, "oversight.oversight_psirp_compliance", "compliance_key")
    for ods in ("RAJ", "R1L"):
        mine = [r for r in recon if r["provider_ods"] == ods]
        worklist = for_provider(engine, ods)
        assert worklist is not None and not worklist.national_record
        assert sorted(r["local_record_id"] for r in worklist.to_submit) == sorted(
            r["local_record_id"] for r in mine if r["reconciliation_status"] == "local_only_past_window")
        assert sorted(r["local_record_id"] for r in worklist.to_review) == sorted(
            r["local_record_id"] for r in mine if r["reconciliation_status"] == "matched"
            and (r["harm_disagreement"] or r["governance_disagreement"]))
        assert sorted(r["source_record_id"] for r in worklist.overdue) == sorted(
            r["source_record_id"] for r in compliance if r["provider_ods"] == ods
            and r["compliance_status"] == "overdue")
    raj = for_provider(engine, "RAJ")
    assert raj is not None
    assert [r["local_record_id"] for r in raj.to_submit] == ["c_met", "c_progress", "c_overdue", "c_none", "a4"]
    review = {r["local_record_id"]: r["differences"] for r in raj.to_review}
    assert review == {"a1": "harm: Moderate physical harm here, Low physical harm in LFPSE",
                      "a2": "Never Event: no here, yes in LFPSE"}
    assert [r["source_record_id"] for r in raj.overdue] == ["c_overdue"]
    assert raj.as_at == D(2026, 3, 10)
    national = for_provider(engine, "X24")
    assert national is not None and national.national_record and national.empty
    supply = {r["provider_ods"]: r["record_origin"] for r in view(engine, "oversight.oversight_provider_data_supply")}
    assert supply == {"RAJ": "local", "R1L": "local", "X24": "lfpse_national"}  # a feed, not a provider

    # In the report: each list's rows, and nothing of another provider's.
    empty = pd.DataFrame(columns=["batch_id", "entity", "source_file", "status", "rows_in", "loaded", "quarantined",
                                  "duplicates", "message", "rows_failed"])
    fb = Feedback("RAJ", "Mid and South Essex", "2026-03-10", "load", None, batches=empty, results=empty,
                  quarantined=empty, warnings=empty, trend=pd.DataFrame(), worklist=raj)
    html = render_html(fb, pd.DataFrame(), pd.DataFrame())
    tables = {t: html.split(f'<table id="worklist-{t}">')[1].split("</table>")[0]
              for t in ("submit", "review", "overdue")}
    assert [re.sub("<.*?>", "", c) for c in re.findall(r"<tr><td>([^<]*)</td>", tables["submit"])] == [
        "c_met", "c_progress", "c_overdue", "c_none", "a4"]
    assert re.findall(r"<tr><td>([^<]*)</td>", tables["review"]) == ["a1", "a2"]
    assert re.findall(r"<tr><td>([^<]*)</td>", tables["overdue"]) == ["c_overdue"]
    assert "c_r1l" not in html
    assert "Your worklist: 5 record(s) to submit to LFPSE, 2 grading(s) to review against LFPSE, 1 learning " \
           "response(s) overdue." in summary_text(fb)
    fb.worklist = national
    assert 'id="worklist-national"' in render_html(fb, pd.DataFrame(), pd.DataFrame())
