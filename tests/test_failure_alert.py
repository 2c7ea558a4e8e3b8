"""The DAG's on_failure_callback e-mails the data-engineering contact once per failed run, over the feedback
reports' SMTP settings; a second call for the same run sends nothing, another run alerts again."""

from __future__ import annotations

from types import SimpleNamespace

from psirf.airflow_tasks import alert_on_failure
from tests.test_feedback_report_delivery import smtp_inbox  # noqa: F401  (the fixture: aiosmtpd on a free port)


def test_a_failed_run_alerts_data_engineering_once(smtp_inbox, tmp_path, monkeypatch):  # noqa: F811
    inbox, port = smtp_inbox
    monkeypatch.setenv("PSIRF_HOME", str(tmp_path))
    monkeypatch.setenv("PSIRF_SMTP_URL", f"smtp://127.0.0.1:{port}")
    monkeypatch.setenv("PSIRF_ALERT_TO", "data.engineering@example.nhs.uk")
    run = SimpleNamespace(dag_id="psirf_nightly", run_id="scheduled__2026-12-03T01:30:00+00:00")
    context = {"dag_run": run, "reason": "task_failure"}

    assert alert_on_failure(context) is True
    assert alert_on_failure(context) is False  # the same run again: nothing sent
    assert len(inbox.messages) == 1
    [(to, content)] = inbox.messages
    assert to == ["data.engineering@example.nhs.uk"]
    assert b"psirf_nightly failed" in content and b"scheduled__2026-12-03T01:30:00+00:00" in content

    other = {"dag_run": SimpleNamespace(dag_id="psirf_nightly", run_id="manual__2026-12-03T09:00:00+00:00")}
    assert alert_on_failure(other) is True and len(inbox.messages) == 2


def test_no_smtp_or_no_contact_sends_nothing_and_never_raises(tmp_path, monkeypatch):
    monkeypatch.setenv("PSIRF_HOME", str(tmp_path))
    monkeypatch.delenv("PSIRF_SMTP_URL", raising=False)
    assert alert_on_failure({"dag_run": SimpleNamespace(dag_id="d", run_id="r")}) is False
    monkeypatch.setenv("PSIRF_SMTP_URL", "smtp://127.0.0.1:9")  # nothing listens: the send fails, quietly
    monkeypatch.setenv("PSIRF_ALERT_TO", "de@example.nhs.uk")
    assert alert_on_failure({"dag_run": SimpleNamespace(dag_id="d", run_id="r")}) is False
    assert not list((tmp_path / "alerts").glob("*.sent"))  # a failed send leaves no marker: a retry may send
