"""The PSIRF oversight views: one per question the ICB asks, over the star schema, by occurred date.

Views are defined here, once, as portable SQL (DuckDB and PostgreSQL run the same text) and created by the
``0004_marts`` migration through :func:`create_views`; a later migration that changes a view calls it again.
They read only the mart tables (dimensions and facts), never the canonical tables, so they hold no free text.
On PostgreSQL they are ``security_invoker`` views: row-level security is applied as the querying role, so a
provider role sees only its own rows through a view too (a plain view would run as its owner and bypass RLS).

Conventions: only LFPSE *incidents* are counted (not outcomes, risks or good care); "today" is the database's
``CURRENT_DATE``, so overdue figures are as at the day of the query; counts are exact — small-number
suppression belongs to outputs shared beyond the ICB (:mod:`reports.suppression`), not to these views.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Connection

from warehouse.db import is_duckdb

__all__ = ["VIEWS", "View", "create_views", "drop_views"]


@dataclass(frozen=True)
class View:
    name: str
    question: str
    grain: str
    columns: tuple[tuple[str, str, str], ...]
    """(name, type, meaning) in SELECT order; a test checks them against the live view."""
    sql: str
    notes: str = ""


_PROVIDER_NAME = "COALESCE(cur.name, {f}.provider_ods)"
_CURRENT_ORG = "LEFT JOIN dim_organisation cur ON cur.ods_code = {f}.provider_ods AND cur.is_current"
_INCIDENTS_ONLY = "JOIN dim_event_type et ON et.event_type_key = {f}.event_type_key AND et.code = 'incident'"
_DOC_STATUS = ("CASE WHEN {f}.duty_of_candour THEN 'applies' WHEN NOT {f}.duty_of_candour THEN 'not applicable' "
               "ELSE 'not recorded' END")
_OPEN_PAST_DUE = "({s}.code NOT IN ('completed', 'cancelled') AND {f}.completed_date IS NULL AND {due} < CURRENT_DATE)"


def _f(template: str, f: str = "f", **kw: str) -> str:
    return template.format(f=f, **kw)


_PROVIDER = (("provider_ods", "text", "ODS code of the provider"),
             ("provider_name", "text", "Provider's current name (resolved by ODS code)"))
_OPT_OUT = ("data_sharing_opt_out", "boolean", "LFPSE DataSharingOptOut: leave these out of any output shared "
            "beyond the ICB")

VIEWS: tuple[View, ...] = (
    View(
        name="vw_incidents_by_provider_month_harm",
        question="How many incidents did each provider have each month, by worst physical harm?",
        grain="one row per provider, occurred month, worst physical harm level and data-sharing opt-out",
        columns=(*_PROVIDER,
                 ("icb_code", "text", "ICB the provider belonged to when the incidents occurred"),
                 ("month_start", "date", "First day of the occurred month"),
                 ("occurred_month", "text", "Occurred month, YYYY-MM"),
                 ("physical_harm_code", "text", "LFPSE physical harm code of the worst harm (5 none … 1 fatal)"),
                 ("physical_harm", "text", "LFPSE label of the worst physical harm"),
                 ("harm_severity_rank", "integer", "0 none, 1 low, 2 moderate, 3 severe, 4 fatal; NULL unknown"),
                 ("is_moderate_or_worse", "boolean", "Moderate, severe or fatal physical harm"), _OPT_OUT,
                 ("incidents", "integer", "Number of incidents")),
        sql=f"""
SELECT f.provider_ods, {_f(_PROVIDER_NAME)} AS provider_name, o.icb_code, d.month_start,
       d.month_label AS occurred_month, ph.code AS physical_harm_code, ph.label AS physical_harm,
       ph.severity_rank AS harm_severity_rank, ph.is_moderate_or_worse, f.data_sharing_opt_out,
       COUNT(*) AS incidents
FROM fct_incident f
{_f(_INCIDENTS_ONLY)}
JOIN dim_date d ON d.date_key = f.occurred_date_key
JOIN dim_physical_harm ph ON ph.physical_harm_key = f.physical_harm_key
JOIN dim_organisation o ON o.organisation_key = f.organisation_key
{_f(_CURRENT_ORG)}
GROUP BY f.provider_ods, {_f(_PROVIDER_NAME)}, o.icb_code, d.month_start, d.month_label, ph.code, ph.label,
         ph.severity_rank, ph.is_moderate_or_worse, f.data_sharing_opt_out""",
    ),
    View(
        name="vw_moderate_harm_duty_of_candour",
        question="Which incidents caused moderate or worse harm, and was the Duty of Candour recorded?",
        grain="one row per incident with moderate, severe or fatal physical harm, or moderate or severe "
              "psychological harm",
        columns=(("incident_key", "text", "The incident (fct_incident)"), *_PROVIDER,
                 ("occurred_date", "date", "When it happened"),
                 ("occurred_month", "text", "Occurred month, YYYY-MM"),
                 ("reported_date", "date", "When it was reported"),
                 ("physical_harm", "text", "Worst physical harm (LFPSE label)"),
                 ("psychological_harm", "text", "Psychological harm (LFPSE label)"),
                 ("duty_of_candour_status", "text", "applies | not applicable | not recorded"),
                 ("duty_of_candour_notified_date", "date", "When the patient or family was notified: always NULL "
                                                           "until feeds supply it"),
                 ("days_to_notification", "integer", "notified date - occurred date: always NULL until then"),
                 _OPT_OUT),
        sql=f"""
SELECT f.incident_key, f.provider_ods, {_f(_PROVIDER_NAME)} AS provider_name, f.occurred_date,
       d.month_label AS occurred_month, f.reported_date, ph.label AS physical_harm, ps.label AS psychological_harm,
       {_f(_DOC_STATUS)} AS duty_of_candour_status, CAST(NULL AS DATE) AS duty_of_candour_notified_date,
       CAST(NULL AS INTEGER) AS days_to_notification, f.data_sharing_opt_out
FROM fct_incident f
{_f(_INCIDENTS_ONLY)}
JOIN dim_date d ON d.date_key = f.occurred_date_key
JOIN dim_physical_harm ph ON ph.physical_harm_key = f.physical_harm_key
JOIN dim_psychological_harm ps ON ps.psychological_harm_key = f.psychological_harm_key
{_f(_CURRENT_ORG)}
WHERE ph.is_moderate_or_worse OR ps.is_moderate_or_worse""",
        notes="The canonical model records whether the Duty of Candour applies but not when the notification "
              "was made, so `days_to_notification` is NULL. Proposed: a `duty_of_candour_notified_date` column "
              "on `incident` (mapped from the LRMS), after which this view computes it.",
    ),
    View(
        name="vw_never_events",
        question="Which Never Events happened, and has each had a learning response (a PSII)?",
        grain="one row per incident recorded as a Never Event",
        columns=(("incident_key", "text", "The incident (fct_incident)"), *_PROVIDER,
                 ("occurred_date", "date", "When it happened"),
                 ("occurred_month", "text", "Occurred month, YYYY-MM"),
                 ("category", "text", "NRLS incident category"),
                 ("physical_harm", "text", "Worst physical harm (LFPSE label)"),
                 ("never_event_type_code", "text", "LFPSE never-event-type code, when the feed supplies it"),
                 ("duty_of_candour_status", "text", "applies | not applicable | not recorded"),
                 ("learning_responses", "integer", "Learning responses covering the incident"),
                 ("has_psii", "boolean", "A Patient Safety Incident Investigation covers it"), _OPT_OUT),
        sql=f"""
SELECT f.incident_key, f.provider_ods, {_f(_PROVIDER_NAME)} AS provider_name, f.occurred_date,
       d.month_label AS occurred_month, c.label AS category, ph.label AS physical_harm,
       f.never_event_type_code, {_f(_DOC_STATUS)} AS duty_of_candour_status,
       COALESCE(lr.responses, 0) AS learning_responses, COALESCE(lr.psii, 0) > 0 AS has_psii, f.data_sharing_opt_out
FROM fct_incident f
{_f(_INCIDENTS_ONLY)}
JOIN dim_date d ON d.date_key = f.occurred_date_key
JOIN dim_incident_category c ON c.category_key = f.category_key
JOIN dim_physical_harm ph ON ph.physical_harm_key = f.physical_harm_key
{_f(_CURRENT_ORG)}
LEFT JOIN (SELECT b.incident_key, COUNT(*) AS responses,
                  SUM(CASE WHEN t.code = 'psii' THEN 1 ELSE 0 END) AS psii
           FROM bridge_learning_response_incident b
           JOIN fct_learning_response r ON r.learning_response_key = b.learning_response_key
           JOIN dim_learning_response_type t ON t.response_type_key = r.response_type_key
           GROUP BY b.incident_key) lr ON lr.incident_key = f.incident_key
WHERE f.never_event""",
        notes="Only LFPSE feeds send the Never Event type; Datix listings send the flag alone.",
    ),
    View(
        name="vw_learning_responses",
        question="Which learning responses are under way or finished, how long did they take, which are overdue?",
        grain="one row per learning response",
        columns=(("learning_response_key", "text", "The learning response (fct_learning_response)"), *_PROVIDER,
                 ("response_type_code", "text", "psii | aar | swarm | mdt | thematic | local | none | unknown"),
                 ("response_type", "text", "Learning response type"),
                 ("status", "text", "open | completed | cancelled | unknown"),
                 ("commissioned_date", "date", "When it was commissioned"),
                 ("due_date", "date", "When it is due"),
                 ("completed_date", "date", "When it finished"),
                 ("days_to_completion", "integer", "completed - commissioned, in days"),
                 ("is_overdue", "boolean", "Not completed or cancelled, and due before today"),
                 ("days_overdue", "integer", "Days past the due date, for overdue ones"),
                 ("incidents_covered", "integer", "Incidents the response covers"),
                 ("first_occurred_date", "date", "Occurred date of the earliest incident covered"),
                 ("first_occurred_month", "text", "Its month, YYYY-MM"),
                 ("patient_family_involved", "boolean", "Patients or families were involved"),
                 ("staff_involved", "boolean", "Staff were involved")),
        sql=f"""
SELECT r.learning_response_key, r.provider_ods, {_f(_PROVIDER_NAME, "r")} AS provider_name,
       t.code AS response_type_code, t.label AS response_type, st.code AS status, r.commissioned_date,
       r.due_date, r.completed_date, r.days_to_completion,
       CASE WHEN {_f(_OPEN_PAST_DUE, "r", s="st", due="r.due_date")} THEN true ELSE false END AS is_overdue,
       CASE WHEN {_f(_OPEN_PAST_DUE, "r", s="st", due="r.due_date")}
            THEN CAST(CURRENT_DATE - r.due_date AS INTEGER) END AS days_overdue,
       COALESCE(b.incidents, 0) AS incidents_covered, b.first_occurred_date, d.month_label AS first_occurred_month,
       r.patient_family_involved, r.staff_involved
FROM fct_learning_response r
JOIN dim_learning_response_type t ON t.response_type_key = r.response_type_key
JOIN dim_status st ON st.status_key = r.status_key
{_f(_CURRENT_ORG, "r")}
LEFT JOIN (SELECT b.learning_response_key, COUNT(*) AS incidents, MIN(i.occurred_date) AS first_occurred_date,
                  MIN(i.occurred_date_key) AS first_occurred_date_key
           FROM bridge_learning_response_incident b
           LEFT JOIN fct_incident i ON i.incident_key = b.incident_key
           GROUP BY b.learning_response_key) b ON b.learning_response_key = r.learning_response_key
LEFT JOIN dim_date d ON d.date_key = b.first_occurred_date_key""",
    ),
    View(
        name="vw_learning_response_summary",
        question="What mix of learning responses does each provider use, how fast, and how many are overdue?",
        grain="one row per provider and learning response type",
        columns=(*_PROVIDER,
                 ("response_type_code", "text", "psii | aar | swarm | mdt | thematic | local | none | unknown"),
                 ("response_type", "text", "Learning response type"),
                 ("responses", "integer", "Learning responses"),
                 ("open", "integer", "Not completed or cancelled"),
                 ("completed", "integer", "Completed"),
                 ("overdue", "integer", "Open and past the due date"),
                 ("median_days_to_completion", "number", "Median days commissioned → completed"),
                 ("patient_family_involved", "integer", "Responses that involved patients or families")),
        sql=f"""
SELECT r.provider_ods, {_f(_PROVIDER_NAME, "r")} AS provider_name, t.code AS response_type_code,
       t.label AS response_type, COUNT(*) AS responses,
       SUM(CASE WHEN st.code NOT IN ('completed', 'cancelled') THEN 1 ELSE 0 END) AS open,
       SUM(CASE WHEN st.code = 'completed' THEN 1 ELSE 0 END) AS completed,
       SUM(CASE WHEN {_f(_OPEN_PAST_DUE, "r", s="st", due="r.due_date")} THEN 1 ELSE 0 END) AS overdue,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY r.days_to_completion) AS median_days_to_completion,
       SUM(CASE WHEN r.patient_family_involved THEN 1 ELSE 0 END) AS patient_family_involved
FROM fct_learning_response r
JOIN dim_learning_response_type t ON t.response_type_key = r.response_type_key
JOIN dim_status st ON st.status_key = r.status_key
{_f(_CURRENT_ORG, "r")}
GROUP BY r.provider_ods, {_f(_PROVIDER_NAME, "r")}, t.code, t.label""",
    ),
    View(
        name="vw_safety_actions_by_provider",
        question="How many safety actions does each provider have open, overdue and completed?",
        grain="one row per provider",
        columns=(*_PROVIDER,
                 ("actions", "integer", "Safety actions"),
                 ("open", "integer", "Not completed or cancelled"),
                 ("overdue", "integer", "Open and past the (revised) due date"),
                 ("completed", "integer", "Completed"),
                 ("completed_on_time", "integer", "Completed by the (revised) due date"),
                 ("cancelled", "integer", "Cancelled"),
                 ("system_wide", "integer", "Actions for the whole system"),
                 ("system_wide_overdue", "integer", "System-wide actions overdue")),
        sql=f"""
SELECT f.provider_ods, {_f(_PROVIDER_NAME)} AS provider_name, COUNT(*) AS actions,
       SUM(CASE WHEN st.code NOT IN ('completed', 'cancelled') THEN 1 ELSE 0 END) AS open,
       SUM(CASE WHEN {_f(_OPEN_PAST_DUE, s="st", due="f.effective_due_date")} THEN 1 ELSE 0 END) AS overdue,
       SUM(CASE WHEN st.code = 'completed' THEN 1 ELSE 0 END) AS completed,
       SUM(CASE WHEN f.completed_on_time THEN 1 ELSE 0 END) AS completed_on_time,
       SUM(CASE WHEN st.code = 'cancelled' THEN 1 ELSE 0 END) AS cancelled,
       SUM(CASE WHEN f.is_system_wide THEN 1 ELSE 0 END) AS system_wide,
       SUM(CASE WHEN f.is_system_wide AND {_f(_OPEN_PAST_DUE, s="st", due="f.effective_due_date")}
                THEN 1 ELSE 0 END) AS system_wide_overdue
FROM fct_safety_action f
JOIN dim_status st ON st.status_key = f.status_key
{_f(_CURRENT_ORG)}
GROUP BY f.provider_ods, {_f(_PROVIDER_NAME)}""",
    ),
    View(
        name="vw_system_wide_actions",
        question="Which system-wide safety actions are there, and which are overdue?",
        grain="one row per safety action marked system-wide",
        columns=(("safety_action_key", "text", "The action (fct_safety_action)"), *_PROVIDER,
                 ("owning_org_ods", "text", "Organisation that owns the action"),
                 ("status", "text", "open | completed | cancelled | unknown"),
                 ("agreed_date", "date", "When it was agreed"),
                 ("due_date", "date", "Revised due date, else due date"),
                 ("completed_date", "date", "When it was completed"),
                 ("is_overdue", "boolean", "Open and past the due date"),
                 ("days_overdue", "integer", "Days past the due date, for overdue ones"),
                 ("incident_key", "text", "Incident it arose from"),
                 ("incident_occurred_date", "date", "When that incident occurred"),
                 ("learning_response_key", "text", "Learning response it came from")),
        sql=f"""
SELECT f.safety_action_key, f.provider_ods, {_f(_PROVIDER_NAME)} AS provider_name, f.owning_org_ods,
       st.code AS status, f.agreed_date, f.effective_due_date AS due_date, f.completed_date,
       CASE WHEN {_f(_OPEN_PAST_DUE, s="st", due="f.effective_due_date")} THEN true ELSE false END AS is_overdue,
       CASE WHEN {_f(_OPEN_PAST_DUE, s="st", due="f.effective_due_date")}
            THEN CAST(CURRENT_DATE - f.effective_due_date AS INTEGER) END AS days_overdue,
       f.incident_key, i.occurred_date AS incident_occurred_date, f.learning_response_key
FROM fct_safety_action f
JOIN dim_status st ON st.status_key = f.status_key
LEFT JOIN fct_incident i ON i.incident_key = f.incident_key
{_f(_CURRENT_ORG)}
WHERE f.is_system_wide""",
    ),
    View(
        name="vw_harm_inequalities",
        question="Do some groups of patients come to more harm (ethnicity, age band, sex, deprivation)?",
        grain="one row per provider, occurred month, ethnic category, age bracket, sex, IMD decile, physical "
              "harm level and data-sharing opt-out, counting patients",
        columns=(*_PROVIDER,
                 ("month_start", "date", "First day of the occurred month"),
                 ("occurred_month", "text", "Occurred month, YYYY-MM"),
                 ("ethnicity_code", "text", "NHS DD ethnic category code, or 'unknown'"),
                 ("ethnicity", "text", "NHS DD ethnic category"),
                 ("ethnic_group", "text", "Broad ethnic group"),
                 ("age_band", "text", "Broad age band (0-17, 18-25, 26-45, 46-65, 66-85, 85+, Unknown)"),
                 ("age_bracket", "text", "LFPSE age bracket"),
                 ("sex", "text", "NHS DD person stated gender"),
                 ("imd_decile", "integer", "IMD decile (1 most deprived): NULL until feeds supply it"),
                 ("physical_harm_code", "text", "LFPSE physical harm code for the patient"),
                 ("physical_harm", "text", "LFPSE physical harm label"),
                 ("is_moderate_or_worse", "boolean", "Moderate, severe or fatal physical harm"), _OPT_OUT,
                 ("patients", "integer", "Patients")),
        sql=f"""
SELECT p.provider_ods, {_f(_PROVIDER_NAME, "p")} AS provider_name, d.month_start, d.month_label AS occurred_month,
       e.code AS ethnicity_code, e.label AS ethnicity, e.ethnic_group, a.age_band, a.label AS age_bracket,
       g.label AS sex, p.imd_decile, ph.code AS physical_harm_code, ph.label AS physical_harm,
       ph.is_moderate_or_worse, f.data_sharing_opt_out, COUNT(*) AS patients
FROM fct_incident_patient p
JOIN fct_incident f ON f.incident_key = p.incident_key
{_f(_INCIDENTS_ONLY)}
JOIN dim_date d ON d.date_key = p.occurred_date_key
JOIN dim_ethnicity e ON e.ethnicity_key = p.ethnicity_key
JOIN dim_age_bracket a ON a.age_bracket_key = p.age_bracket_key
JOIN dim_gender g ON g.gender_key = p.gender_key
JOIN dim_physical_harm ph ON ph.physical_harm_key = p.physical_harm_key
{_f(_CURRENT_ORG, "p")}
GROUP BY p.provider_ods, {_f(_PROVIDER_NAME, "p")}, d.month_start, d.month_label, e.code, e.label, e.ethnic_group,
         a.age_band, a.label, g.label, p.imd_decile, ph.code, ph.label, ph.is_moderate_or_worse,
         f.data_sharing_opt_out""",
        notes="No feed supplies deprivation yet: `imd_decile` is NULL (reported as 'not supplied'). When it is "
              "added it must come from the patient's LSOA via the IMD lookup, never from a stored postcode.",
    ),
    View(
        name="vw_reporting_timeliness",
        question="How quickly does each provider report incidents after they occur?",
        grain="one row per provider, occurred month and data-sharing opt-out",
        columns=(*_PROVIDER,
                 ("month_start", "date", "First day of the occurred month"),
                 ("occurred_month", "text", "Occurred month, YYYY-MM"), _OPT_OUT,
                 ("incidents", "integer", "Incidents"),
                 ("with_reported_date", "integer", "Incidents with a reported date"),
                 ("median_days_to_report", "number", "Median days occurred → reported"),
                 ("within_2_days", "integer", "Reported within 2 days of occurring"),
                 ("within_7_days", "integer", "Reported within 7 days"),
                 ("within_30_days", "integer", "Reported within 30 days"),
                 ("after_30_days", "integer", "Reported more than 30 days after")),
        sql=f"""
SELECT f.provider_ods, {_f(_PROVIDER_NAME)} AS provider_name, d.month_start, d.month_label AS occurred_month,
       f.data_sharing_opt_out, COUNT(*) AS incidents, COUNT(f.days_to_report) AS with_reported_date,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY f.days_to_report) AS median_days_to_report,
       SUM(CASE WHEN f.days_to_report <= 2 THEN 1 ELSE 0 END) AS within_2_days,
       SUM(CASE WHEN f.days_to_report <= 7 THEN 1 ELSE 0 END) AS within_7_days,
       SUM(CASE WHEN f.days_to_report <= 30 THEN 1 ELSE 0 END) AS within_30_days,
       SUM(CASE WHEN f.days_to_report > 30 THEN 1 ELSE 0 END) AS after_30_days
FROM fct_incident f
{_f(_INCIDENTS_ONLY)}
JOIN dim_date d ON d.date_key = f.occurred_date_key
{_f(_CURRENT_ORG)}
GROUP BY f.provider_ods, {_f(_PROVIDER_NAME)}, d.month_start, d.month_label, f.data_sharing_opt_out""",
        notes="The 2/7/30-day bands are ours (no national target applies under LFPSE); the median answers "
              "most questions.",
    ),
)


def create_views(conn: Connection) -> None:
    """(Re)create every view; on PostgreSQL as ``security_invoker`` so row-level security applies through it."""
    options = "" if is_duckdb(conn) else " WITH (security_invoker = true)"
    for view in VIEWS:
        conn.exec_driver_sql(f"DROP VIEW IF EXISTS {view.name}")
        conn.exec_driver_sql(f"CREATE VIEW {view.name}{options} AS {view.sql}")


def drop_views(conn: Connection) -> None:
    for view in reversed(VIEWS):
        conn.exec_driver_sql(f"DROP VIEW IF EXISTS {view.name}")
