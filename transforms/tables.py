"""Parsed source fields -> canonical table frames (incidents, incident patients, safety actions, learning responses).

Every frame has exactly its warehouse table's columns (minus ``loaded_at``/``updated_at``, set by the merge), a
``row_hash`` over its content, and the helper columns ``_row`` and ``_group`` used to quarantine rows.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from transforms.keys import natural_keys, row_hashes
from transforms.profile import MappingProfile
from warehouse.models import CANONICAL_TABLES

NON_CONTENT = {"batch_id", "extracted_at", "row_hash", "loaded_at", "updated_at"}
KEY_COLUMN = {"incidents": "incident_key", "safety_actions": "safety_action_key",
              "learning_responses": "learning_response_key"}
Sources = dict[str, pd.Series]


def _finish(table: str, data: dict[str, object], fields: pd.DataFrame) -> pd.DataFrame:
    """Order columns as the warehouse table does, compute the row hash, keep ``_row``/``_group``."""
    target = [c.name for c in CANONICAL_TABLES[table].columns if c.name not in ("loaded_at", "updated_at")]
    frame = pd.DataFrame(index=fields.index)
    for name in target:
        frame[name] = data.get(name, pd.NA)
    frame["row_hash"] = row_hashes(frame, [c for c in target if c not in NON_CONTENT])
    frame["_row"] = fields["_row"]
    frame["_group"] = fields["_group"]
    return frame


def _col(fields: pd.DataFrame, name: str, dtype: str = "string") -> pd.Series:
    if name in fields:
        return fields[name]
    return pd.Series(pd.NA, index=fields.index, dtype=dtype)


def _date(fields: pd.DataFrame, name: str) -> pd.Series:
    """Dates stay datetime64 (midnight) through validation; the loader stores them as DATE."""
    return _col(fields, name, "datetime64[ns]").dt.normalize()


def _provenance(fields: pd.DataFrame, profile: MappingProfile, ods: str, batch_id: str,
                extracted_at: object) -> dict[str, object]:
    return {"provider_ods": ods, "source_system": profile.source_system, "source_record_id": fields["source_record_id"],
            "batch_id": batch_id, "extracted_at": pd.Timestamp(extracted_at)}


def _source(sources: Sources, name: str, index: pd.Index) -> pd.Series:
    return sources[name].reindex(index) if name in sources else pd.Series(pd.NA, index=index, dtype="string")


def incident_tables(fields: pd.DataFrame, sources: Sources, profile: MappingProfile, ctx: object) -> dict[
        str, pd.DataFrame]:
    """One incident per record; one patient row per (record, patient). With one source row per patient, the
    incident takes its first row's fields and the worst harm across its patients (lowest LFPSE code)."""
    ods: str = ctx.provider_ods  # type: ignore[attr-defined]
    patient_level = "patient_sequence" in fields
    ods_col = pd.Series(ods, index=fields.index, dtype="string")
    ids = fields["source_record_id"]
    keys = natural_keys(ods_col, ids)
    harm = _col(fields, "physical_harm")
    psych = _col(fields, "psychological_harm")
    harm_source = _source(sources, "physical_harm", fields.index)
    if patient_level:
        first = ~fields["_group"].duplicated(keep="first")
        worst = pd.to_numeric(harm, errors="coerce").groupby(fields["_group"]).transform("min")
        worst_psych = pd.to_numeric(psych, errors="coerce").groupby(fields["_group"]).transform("min")
        # The label of the patient whose harm is the worst, so the verbatim source stays next to the code.
        is_worst = pd.to_numeric(harm, errors="coerce") == worst
        worst_label = harm_source.where(is_worst).groupby(fields["_group"]).transform("first")
        inc = fields[first]
        inc_harm = worst[first].astype("Int64").astype("string")
        inc_psych = worst_psych[first].astype("Int64").astype("string")
        inc_harm_source = worst_label[first]
    else:
        inc, inc_harm, inc_psych, inc_harm_source = fields, harm, psych, harm_source
    incident = {
        **_provenance(inc, profile, ods, ctx.batch_id, ctx.extracted_at),  # type: ignore[attr-defined]
        "incident_key": keys[inc.index],
        "local_reference": _col(inc, "local_reference"),
        "event_type_code": _col(inc, "event_type").fillna("incident"),
        "occurred_date": _date(inc, "occurred_date"),
        "occurred_time": _col(inc, "occurred_time"),
        "reported_date": _date(inc, "reported_date"),
        "category_code": _col(inc, "category"),
        "category_source": _source(sources, "category", inc.index),
        "subcategory_source": _col(inc, "subcategory"),
        "physical_harm_code": inc_harm,
        "physical_harm_source": inc_harm_source,
        "psychological_harm_code": inc_psych,
        "psychological_harm_source": _source(sources, "psychological_harm", inc.index),
        "harm_mapping_basis": profile.harm_mapping_basis,
        "result_source": _col(inc, "result"),
        "division_source": _col(inc, "division"),
        "specialty_source": _col(inc, "specialty"),
        "location_type_source": _col(inc, "location_type"),
        "location_exact_source": _col(inc, "location_exact"),
        "description": _col(inc, "description"),
        "action_taken": _col(inc, "action_taken"),
        "lessons_learned": _col(inc, "lessons_learned"),
        "duty_of_candour": _col(inc, "duty_of_candour", "boolean"),
        "duty_of_candour_source": _source(sources, "duty_of_candour", inc.index),
        "duty_of_candour_notified_date": _date(inc, "duty_of_candour_notified_date"),
        "never_event": _col(inc, "never_event", "boolean"),
        "never_event_type_code": _col(inc, "never_event_type"),
        "serious_incident": _col(inc, "serious_incident", "boolean"),
        "cqc_notify": _col(inc, "cqc_notify", "boolean"),
        "hsib_notify": _col(inc, "hsib_notify", "boolean"),
        "is_anonymous": _col(inc, "is_anonymous", "boolean"),
        "data_sharing_opt_out": _col(inc, "data_sharing_opt_out", "boolean"),
        "taxonomy_version": _col(inc, "taxonomy_version"),
        "location_ods": _col(inc, "organisation_ods"),
        "service_area_source": _col(inc, "service_area"),
        "approval_status_source": _col(inc, "approval_status"),
        "source_updated_at": _col(inc, "source_updated_at", "datetime64[ns]"),
        "is_deleted": False,
        "extra_attributes": _col(inc, "extra_attributes"),
        "record_origin": profile.record_origin,
    }
    tables = {"incidents": _finish("incidents", incident, inc)}

    patient_columns = ("nhs_number", "age_at_incident_years", "gender", "ethnicity")
    if patient_level:
        has_patient = fields["patient_sequence"].notna()
        sequence = fields["patient_sequence"]
    else:
        present = [f for f in patient_columns if f in fields]
        has_patient = fields[present].notna().any(axis=1) if present else pd.Series(False, index=fields.index)
        sequence = pd.Series(1, index=fields.index, dtype="Int64")
    pf = fields[has_patient]
    # LFPSE DataSharingOptOut: the patient's details are withheld; harm stays (it is the safety signal).
    withheld = _col(pf, "data_sharing_opt_out", "boolean").fillna(False).astype(bool)

    def kept(series: pd.Series) -> pd.Series:
        return series.mask(withheld)

    bracket = _col(pf, "age_bracket") if "age_bracket" in pf else _col(pf, "age_bracket_code")
    if "age_bracket_code_derived" in pf:
        bracket = bracket.fillna(pf["age_bracket_code_derived"])
    patient = {
        **_provenance(pf, profile, ods, ctx.batch_id, ctx.extracted_at),  # type: ignore[attr-defined]
        "incident_patient_key": natural_keys(ods_col[has_patient], ids[has_patient],
                                             sequence[has_patient].astype("string")),
        "incident_key": keys[has_patient],
        "patient_sequence": sequence[has_patient].astype("Int64"),
        "patient_pseudo_id": kept(_col(pf, "nhs_number")),
        "age_at_incident_years": kept(_col(pf, "age_at_incident_years", "Int64")),
        "age_bracket_code": kept(bracket),
        "gender_code": kept(_col(pf, "gender")),
        "gender_source": kept(_source(sources, "gender", pf.index)),
        "ethnicity_code": kept(_col(pf, "ethnicity")),
        "ethnicity_source": kept(_source(sources, "ethnicity", pf.index)),
        "physical_harm_code": _col(pf, "physical_harm"),
        "physical_harm_source": _source(sources, "physical_harm", pf.index),
        "psychological_harm_code": _col(pf, "psychological_harm"),
        "psychological_harm_source": _source(sources, "psychological_harm", pf.index),
        "strength_of_association_code": _col(pf, "strength_of_association"),
        "clinical_outcome": _col(pf, "clinical_outcome"),
    }
    tables["incident_patients"] = _finish("incident_patients", patient, pf)
    tables["incident_patients"]["_event_type"] = _col(pf, "event_type").fillna("incident")
    return tables


def action_tables(fields: pd.DataFrame, sources: Sources, profile: MappingProfile, ctx: object) -> dict[
        str, pd.DataFrame]:
    ods: str = ctx.provider_ods  # type: ignore[attr-defined]
    ods_col = pd.Series(ods, index=fields.index, dtype="string")
    incident_ids = _col(fields, "incident_source_record_id")
    response_ids = _col(fields, "learning_response_source_record_id")
    action = {
        **_provenance(fields, profile, ods, ctx.batch_id, ctx.extracted_at),  # type: ignore[attr-defined]
        "safety_action_key": natural_keys(ods_col, fields["source_record_id"]),
        "incident_key": natural_keys(ods_col, incident_ids).where(incident_ids.notna()),
        "incident_source_record_id": incident_ids,
        "learning_response_key": natural_keys(ods_col, response_ids).where(response_ids.notna()),
        "description": _col(fields, "description"),
        "owner_role": _col(fields, "owner_role"),
        "owning_org_ods": _col(fields, "owning_org_ods").fillna(ods),
        "agreed_date": _date(fields, "agreed_date"),
        "due_date": _date(fields, "due_date"),
        "revised_due_date": _date(fields, "revised_due_date"),
        "completed_date": _date(fields, "completed_date"),
        "status_code": _col(fields, "status"),
        "status_source": _source(sources, "status", fields.index),
        "effectiveness_measure": _col(fields, "effectiveness_measure"),
        "is_system_wide": _col(fields, "is_system_wide", "boolean"),
        "is_deleted": False,
        "source_updated_at": _col(fields, "source_updated_at", "datetime64[ns]"),
        "extra_attributes": _col(fields, "extra_attributes"),
    }
    return {"safety_actions": _finish("safety_actions", action, fields)}


def learning_response_tables(fields: pd.DataFrame, sources: Sources, profile: MappingProfile, ctx: object) -> dict[
        str, pd.DataFrame]:
    """Learning responses, and the incidents each covers (the many-to-many link, from a list in one column)."""
    ods: str = ctx.provider_ods  # type: ignore[attr-defined]
    ods_col = pd.Series(ods, index=fields.index, dtype="string")
    keys = natural_keys(ods_col, fields["source_record_id"])
    response = {
        **_provenance(fields, profile, ods, ctx.batch_id, ctx.extracted_at),  # type: ignore[attr-defined]
        "learning_response_key": keys,
        "response_type_code": _col(fields, "response_type"),
        "response_type_source": _source(sources, "response_type", fields.index),
        "commissioned_date": _date(fields, "commissioned_date"),
        "due_date": _date(fields, "due_date"),
        "completed_date": _date(fields, "completed_date"),
        "status_code": _col(fields, "status"),
        "status_source": _source(sources, "status", fields.index),
        "patient_family_involved": _col(fields, "patient_family_involved", "boolean"),
        "staff_involved": _col(fields, "staff_involved", "boolean"),
        "is_deleted": False,
        "source_updated_at": _col(fields, "source_updated_at", "datetime64[ns]"),
        "extra_attributes": _col(fields, "extra_attributes"),
    }
    tables = {"learning_responses": _finish("learning_responses", response, fields)}
    covered = _col(fields, "incident_source_record_ids").str.split(r"\s*[;|,]\s*", regex=True)
    links = pd.DataFrame({"learning_response_key": keys, "incident": covered, "_row": fields["_row"],
                          "_group": fields["_group"]}).explode("incident")
    links = links[links["incident"].notna() & (links["incident"] != "")]
    link_frame = pd.DataFrame({
        "learning_response_key": links["learning_response_key"].astype("string"),
        "incident_key": natural_keys(pd.Series(ods, index=links.index, dtype="string"),
                                     links["incident"].astype("string")),
        "provider_ods": ods,
        "batch_id": ctx.batch_id,  # type: ignore[attr-defined]
        "_row": links["_row"],
        "_group": links["_group"],
    }).drop_duplicates(subset=["learning_response_key", "incident_key"])
    tables["learning_response_incidents"] = link_frame
    return tables


BUILDERS: dict[str, Callable[[pd.DataFrame, Sources, MappingProfile, object], dict[str, pd.DataFrame]]] = {
    "incidents": incident_tables,
    "safety_actions": action_tables,
    "learning_responses": learning_response_tables,
}
