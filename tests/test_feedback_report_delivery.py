"""Rejected files are reported as failures (ledger, results history, report) and the report arrives by e-mail.

Runs on DuckDB and PostgreSQL. The e-mail goes to a real SMTP server (aiosmtpd) on a free local port.
"""

from __future__ import annotations

import email
import socket
from email import policy

import pandas as pd
import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller

from psirf.pipeline import run_provider
from psirf.registry import load_registry
from psirf.settings import CONFIG_DIR
from reports.provider_feedback import deliver_for_run
from transforms.profile import load_profile
from warehouse.reference import seed_organisations


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd hook name
        self.messages.append((list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smtp_inbox():
    inbox = _Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port())
    controller.start()
    try:
        yield inbox, controller.port
    finally:
        controller.stop()


def test_empty_file_and_missing_column_are_reported_as_failures_and_emailed(
        tmp_path, warehouse_url, migrated_engine, monkeypatch, smtp_inbox):
    inbox, port = smtp_inbox
    home = tmp_path / "home"
    monkeypatch.setenv("PSIRF_HOME", str(home))
    monkeypatch.setenv("PSIRF_WAREHOUSE_URL", warehouse_url)
    monkeypatch.setenv("PSIRF_PSEUDONYMISATION_KEY", "TEST-ONLY-key-for-pseudonymisation-tests-0123")
    monkeypatch.setenv("PSIRF_SMTP_URL", f"smtp://127.0.0.1:{port}")
    recipients = tmp_path / "recipients.toml"
    recipients.write_text('[RAJ]\nto = ["patient.safety@raj.example"]\n', encoding="utf-8")
    monkeypatch.setenv("PSIRF_FEEDBACK_RECIPIENTS", str(recipients))
    seed_organisations(migrated_engine, load_registry(home=home))
    profile = load_profile("datix_web_listing_v1", CONFIG_DIR / "profiles")
    feed = home / "demo_feeds" / "RAJ"
    feed.mkdir(parents=True)
    (feed / "incidents_20261101.csv").write_text(",".join(profile.entity("incidents").columns.values()) + "\r\n",
                                                 encoding="utf-8")
    action_columns = [c for c in profile.entity("safety_actions").columns.values() if c != "Progress"]
    (feed / "actions_20261101.csv").write_text(",".join(action_columns) + "\r\n" + ",".join(["1"] * len(
        action_columns)) + "\r\n", encoding="utf-8")

    batches = run_provider("RAJ", run_id="run-rejected", engine=migrated_engine)
    assert [b["status"] for b in batches] == ["rejected", "rejected"]

    with migrated_engine.connect() as conn:
        ledger = pd.read_sql(sa.text("SELECT batch_id, entity, status FROM batch_ledger"), conn)
        failed = pd.read_sql(sa.text("SELECT batch_id, rule_id, field, rows_failed FROM dq_rule_result "
                                     "WHERE rows_failed > 0 AND severity = 'error'"), conn)
        scores = pd.read_sql(sa.text("SELECT batch_id, dimension, batch_status, score FROM dq_dimension_score"),
                             conn)
    ids = dict(zip(ledger["entity"], ledger["batch_id"], strict=True))
    assert set(ledger["status"]) == {"rejected"}
    by_batch = {b: set(zip(g["rule_id"], g["field"].fillna(""), strict=True)) for b, g in failed.groupby("batch_id")}
    assert ("batch.empty", "") in by_batch[ids["incidents"]]
    assert ("raw.column_missing", "Progress") in by_batch[ids["safety_actions"]]
    completeness = scores[scores["dimension"] == "completeness"].set_index("batch_id")
    assert completeness.loc[ids["incidents"], "score"] == 0.0
    assert completeness.loc[ids["safety_actions"], "score"] == 0.0
    assert set(scores["batch_status"]) == {"rejected"}

    result = deliver_for_run("RAJ", "run-rejected")
    assert (result["batches"], result["rejected"], result["emailed"]) == (2, 2, 1)
    [(to, raw)] = inbox.messages
    assert to == ["patient.safety@raj.example"]
    message = email.message_from_bytes(raw, policy=policy.default)
    assert message["Subject"].startswith("REJECTED FILE") and "RAJ" in message["Subject"]
    body = message.get_body(preferencelist=("plain",)).get_content()
    assert "ACTION NEEDED: 2 file(s) were REJECTED" in body and "raw.column_missing (Progress)" in body
    attached = {part.get_filename(): part.get_payload(decode=True) for part in message.iter_attachments()}
    assert {n.rsplit(".", 1)[-1] for n in attached} == {"html", "csv", "xlsx"}
    html = next(v for n, v in attached.items() if n.endswith(".html")).decode("utf-8")
    assert "Action needed: 2 file(s) rejected" in html and html.count("REJECTED") >= 2
