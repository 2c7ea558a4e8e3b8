"""What the DAG's tasks say in Airflow: provider labels, one-line expected failures, the run's alert.

Kept apart from :mod:`psirf.pipeline` (the steps themselves) and light to import: the DAG file imports this
module at parse time, and nothing here touches a database, the network or pandas until a task calls it.

- **Labels.** Mapped task instances are labelled with the provider's ODS code and name (``map_index_template``),
  rendered from the ``providers`` task's list before the task starts, so a failed instance is labelled too.
- **Expected failures.** A rejected file, a refused credential or a configuration mistake is a finding, not a
  crash: the task logs one line (provider, file, problem, what to do) and ends failed through
  :class:`ExpectedFailure` — a ``SystemExit``, which Airflow's task runner logs as ``Task exited`` without a
  traceback — and :data:`NO_RETRY` fails it at once (retrying cannot fix the data). Any other exception keeps its
  traceback and its retries.
- **Alert.** :func:`alert_on_failure` is the DAG's ``on_failure_callback``: one e-mail per failed run to the
  data-engineering contact, over the feedback reports' SMTP settings (:mod:`reports.email`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, NoReturn, TypeVar

from airflow.sdk.definitions.retry_policy import ExceptionRetryPolicy, RetryAction, RetryRule

log = logging.getLogger("psirf.task")
T = TypeVar("T")

MAP_INDEX_TEMPLATE = "{{ ti.xcom_pull(task_ids='providers')[ti.map_index] | provider_label }}"
"""The label of a provider's mapped task instances: the ``providers`` task's list, indexed by the map index."""

NO_RETRY = ExceptionRetryPolicy(rules=[RetryRule(exception="psirf.airflow_tasks.ExpectedFailure",
                                                 action=RetryAction.FAIL, reason="expected failure: data or setup")])
"""Retry policy of the provider tasks: an expected failure fails at once; anything else retries as configured."""

ALERT_RECIPIENTS_ENV = "PSIRF_ALERT_TO"
ALERT_RECIPIENTS_KEY = "DATA_ENGINEERING"  # the table of config/feedback_recipients.toml


class ExpectedFailure(SystemExit):
    """A task ends failed with one readable line and no traceback (Airflow logs a SystemExit as ``Task exited``)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


def provider_label(ods_code: Any) -> str:
    """``RQW · East Suffolk and North Essex NHS Foundation Trust``; the bare code when the registry has no name."""
    code = str(ods_code)
    try:
        from psirf.registry import get_provider

        name = get_provider(code).name
    except Exception:  # a label must never fail a task
        return code
    return f"{code} · {name}" if name and name != code else code


def template_filters() -> dict[str, Callable[[Any], str]]:
    """The DAG's ``user_defined_filters``."""
    return {"provider_label": provider_label}


def fail(message: str) -> NoReturn:
    """Log ``message`` as the task's error line and end the task failed, without a traceback or a retry."""
    log.error("%s", message)
    raise ExpectedFailure(message)


def rejection_line(provider_ods: str, source_file: str, problem: str) -> str:
    """One line: provider, file, the problem and what to do."""
    return (f"{provider_ods}: {Path(source_file).name} rejected: {problem}. Nothing from this file was loaded; fix it "
            f"and send it again (the provider's feedback report lists the reasons).")


def is_expected(exc: BaseException) -> bool:
    """A problem retrying cannot fix: a :class:`~psirf.errors.PsirfError` (rejected file, bad configuration, refused
    key), a refused API credential; not a warehouse that is locked or unreachable, nor an API that failed or ran out
    of time (those retry)."""
    from connectors.rest_api.http_transport import ApiAuthError, ApiError
    from psirf.errors import PsirfError
    from warehouse.ready import WarehouseError

    if isinstance(exc, ApiAuthError):
        return True
    return isinstance(exc, PsirfError) and not isinstance(exc, WarehouseError | ApiError)


def expected(call: Callable[[], T], provider_ods: str | None = None) -> T:
    """Run a step; an expected failure (:func:`is_expected`) ends the task through :func:`fail`. Other errors
    propagate with their traceback (and retry)."""
    try:
        return call()
    except Exception as exc:
        if not is_expected(exc):
            raise
        prefix = f"{provider_ods}: " if provider_ods and not str(exc).startswith(provider_ods) else ""
        fail(f"{prefix}{exc}")


def load(ods_code: str, processed: list[dict[str, Any]], *, cleanup_on_failure: bool) -> dict[str, Any]:
    """The ``load`` task: the rejected files are named first (the log's first line), then the others load, then
    the task fails if any file was rejected."""
    from psirf.errors import BatchRejected
    from psirf.pipeline import load_batches

    rejected = [r for r in processed if r.get("status") == "rejected"]
    for ref in rejected:
        log.error("%s", rejection_line(ods_code, str(ref.get("source_file")), str(ref.get("message") or "rejected")))
    try:
        return load_batches(ods_code, processed, cleanup_on_failure=cleanup_on_failure)
    except BatchRejected:
        names = ", ".join(Path(str(r.get("source_file"))).name for r in rejected) or "a file"
        fail(f"{ods_code}: {len(rejected) or 1} of {len(processed)} file(s) rejected ({names}); the other files "
             f"loaded. The reasons are above and in the provider's feedback report.")


def summarise(expected_providers: list[str], results: list[dict[str, Any]], marts: dict[str, Any] | None,
              feedback: Iterable[dict[str, Any] | None] = ()) -> dict[str, Any]:
    """The ``summary`` task: one line per provider; fails naming each failed provider with its reason (the rejected
    files and why, from the feedback tasks; otherwise which step to look at)."""
    from psirf.errors import PsirfError
    from psirf.pipeline import run_summary

    try:
        return run_summary(expected_providers, list(results), marts, marts_expected=True)
    except PsirfError as exc:
        done = {r["provider_ods"] for r in results}
        reasons = failure_reasons(sorted(set(expected_providers) - done), feedback)
        for line in reasons:
            log.error("%s", line)
        fail(f"{exc}" + ("" if not reasons else " — " + " | ".join(reasons)))


def failure_reasons(failed: list[str], feedback: Iterable[dict[str, Any] | None]) -> list[str]:
    by_provider = {f["provider_ods"]: f for f in feedback if f}
    lines = []
    for code in failed:
        rejections = (by_provider.get(code) or {}).get("rejections") or []
        if rejections:
            why = "; ".join(f"{r['file']} rejected: {r['problem']}" for r in rejections)
            lines.append(f"{code}: {why}")
        else:
            lines.append(f"{code}: failed before its files were loaded (see its provider.extract, "
                         f"provider.transform_validate or provider.load log)")
    return lines


# --- the run's alert -------------------------------------------------------------------------------------------


def alert_recipients() -> list[str]:
    """``PSIRF_ALERT_TO`` (comma-separated), else ``[DATA_ENGINEERING] to`` in the feedback recipients file."""
    from reports.email import recipients_for

    env = os.environ.get(ALERT_RECIPIENTS_ENV, "")
    listed = [a.strip() for a in env.split(",") if a.strip()]
    return listed or recipients_for(ALERT_RECIPIENTS_KEY)


def _marker(dag_id: str, run_id: str) -> Path:
    import hashlib

    from psirf import settings

    digest = hashlib.sha256(f"{dag_id}\0{run_id}".encode()).hexdigest()[:32]
    return settings.psirf_home() / "alerts" / f"{dag_id}.{digest}.sent"


def alert_on_failure(context: Mapping[str, Any]) -> bool:
    """The DAG's ``on_failure_callback``: e-mail the data-engineering contact once per failed run.

    Idempotent per run: a marker file (created exclusively, so two callbacks at once send one message) records
    that the run's alert went out; a second call for the same run sends nothing. A send that fails removes the
    marker, so a later call can try again. Returns whether a message was sent. Never raises."""
    try:
        return _alert(context)
    except Exception as exc:  # an alert must never mask the run's own failure
        log.warning("failure alert not sent: %s: %s", type(exc).__name__, exc)
        return False


def _alert(context: Mapping[str, Any]) -> bool:
    from reports import email

    dag_run = context.get("dag_run")
    dag_id = str(getattr(dag_run, "dag_id", None) or getattr(context.get("dag"), "dag_id", "psirf_nightly"))
    run_id = str(getattr(dag_run, "run_id", None) or context.get("run_id") or "unknown")
    smtp = email.smtp_settings()
    to = alert_recipients() if smtp is not None else []
    if smtp is None or not to:
        log.info("%s %s failed; no alert e-mail (no SMTP server or no data-engineering contact configured)",
                 dag_id, run_id)
        return False
    marker = _marker(dag_id, run_id)
    marker.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        log.info("%s %s: the failure alert was already sent", dag_id, run_id)
        return False
    with os.fdopen(fd, "w") as f:
        f.write(run_id + "\n")
    reason = str(context.get("reason") or context.get("exception") or "see the failed tasks")
    body = (f"The Airflow run {run_id} of {dag_id} failed.\n\nReason: {reason}\n\n"
            f"Open the run in the Airflow UI (make ui) and read the failed tasks' logs; the summary task names each "
            f"failed provider and why.\n")
    try:
        email.send(smtp, to, f"[psirf] {dag_id} failed: {run_id}", body)
    except BaseException:
        marker.unlink(missing_ok=True)
        raise
    log.info("%s %s: failure alert sent to %d recipient(s)", dag_id, run_id, len(to))
    return True
