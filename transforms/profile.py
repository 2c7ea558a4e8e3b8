"""Mapping profiles: how one export layout maps onto the canonical model (columns and code maps).

Per-source differences live here, in ``config/profiles/<name>.toml``, never in code. A profile names, per
entity, the source column for each canonical field and the local-label -> national-code maps.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr, ValidationError, model_validator

from psirf.errors import ConfigError
from psirf.validation import config_error
from transforms.fields import ENTITY_FIELDS, FieldKind

PROFILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
"""A profile's name is its file name in the profiles folder without ``.toml``: no paths, no dots."""


@dataclass(frozen=True)
class RejectRule:
    field: str
    values: frozenset[str]


@dataclass(frozen=True)
class EntityMapping:
    entity: str
    columns: dict[str, str]  # canonical field -> source column
    codes: dict[str, dict[str, str]]  # canonical field -> {casefolded label: code}
    code_labels: dict[str, dict[str, str]]  # canonical field -> {label as written in the profile: code}
    rejected_when: RejectRule | None = None
    ignored_columns: frozenset[str] = frozenset()  # known columns deliberately not loaded (e.g. patient names)
    optional: frozenset[str] = frozenset()  # mapped fields a file may lack: then "not supplied" (NULL), no rejection

    def required_columns(self) -> dict[str, str]:
        """The mapped columns a file must carry (every mapped one but the ``optional`` fields')."""
        return {f: c for f, c in self.columns.items() if f not in self.optional}


@dataclass(frozen=True)
class MappingProfile:
    name: str
    source_system: str
    date_format: str
    datetime_format: str
    label_prefix_patterns: tuple[re.Pattern[str], ...]
    true_values: frozenset[str]
    false_values: frozenset[str]
    entities: dict[str, EntityMapping] = field(default_factory=dict)
    unknown_values: frozenset[str] = frozenset()  # e.g. LFPSE "u" (I don't know): an explicit NULL, not an error
    harm_mapping_basis: str = "provider_profile"  # provider_profile | legacy_nrls | lfpse
    record_origin: str = "local"  # local | lfpse_national: which record of the organisation this feed is
    fhir_local_reference: FhirLocalReference | None = None  # LFPSE FHIR: where a record carries the LRMS reference

    def entity(self, name: str) -> EntityMapping:
        try:
            return self.entities[name]
        except KeyError:
            raise ConfigError(f"profile {self.name!r} has no mapping for entity {name!r}") from None


@dataclass(frozen=True)
class FhirLocalReference:
    """Where an LFPSE FHIR record carries the provider's own (LRMS) reference: ``AdverseEvent.identifier`` with
    this ``system``, or the nested extension ``url`` inside the LFPSE extension ``extension`` (its name without the
    ``-<version>`` suffix). The reader then emits it as the column ``column``."""

    column: str
    identifier_system: str | None = None
    extension: str | None = None
    url: str | None = None


class _FhirLocalReference(BaseModel):
    """``[fhir_local_reference]``: ``identifier_system``, or ``extension`` and ``url`` (see FhirLocalReference)."""

    model_config = ConfigDict(extra="forbid")

    column: StrictStr = "LrmsReference"
    identifier_system: StrictStr | None = None
    extension: StrictStr | None = None
    url: StrictStr | None = None

    @model_validator(mode="after")
    def _one_place(self) -> _FhirLocalReference:
        if (self.identifier_system is None) == (self.extension is None and self.url is None):
            raise ValueError("name either identifier_system, or extension and url (not both)")
        if (self.extension is None) != (self.url is None):
            raise ValueError("extension and url go together: the LFPSE extension and the nested url inside it")
        return self


class _RejectedWhen(BaseModel):
    model_config = ConfigDict(extra="forbid")

    field: StrictStr
    values: list[StrictStr] = Field(min_length=1)


class _EntitySection(BaseModel):
    """``[<entity>]``: ``columns`` (canonical field -> source column), ``codes``, ``rejected_when``,
    ``ignored_columns``, ``optional`` (mapped fields whose column a file may lack)."""

    model_config = ConfigDict(extra="forbid")

    columns: dict[str, StrictStr] = {}
    codes: dict[str, dict[str, StrictStr]] = {}
    rejected_when: _RejectedWhen | None = None
    ignored_columns: list[StrictStr] = []
    optional: list[StrictStr] = []


class _ProfileFile(BaseModel):
    """The shape of a profile file; what the values mean is checked by :func:`parse_profile`."""

    model_config = ConfigDict(extra="forbid")

    name: StrictStr = Field(min_length=1)
    source_system: StrictStr = Field(min_length=1)
    date_format: StrictStr = "%d/%m/%Y"
    datetime_format: StrictStr = "%d/%m/%Y %H:%M"
    label_prefix_patterns: list[StrictStr] = []
    true_values: list[StrictStr] = ["yes", "y"]
    false_values: list[StrictStr] = ["no", "n"]
    unknown_values: list[StrictStr] = []
    harm_mapping_basis: Literal["provider_profile", "legacy_nrls", "lfpse"] = "provider_profile"
    record_origin: Literal["local", "lfpse_national"] = "local"
    fhir_local_reference: _FhirLocalReference | None = None
    incidents: _EntitySection | None = None
    safety_actions: _EntitySection | None = None
    learning_responses: _EntitySection | None = None


def profile_path(name: str, profiles_dir: Path) -> Path:
    """The file of profile ``name``: a plain name, resolved inside ``profiles_dir`` (never a path elsewhere)."""
    if not PROFILE_NAME.fullmatch(name):
        raise ConfigError(f"profile {name!r} is not a profile name; expected the name of a file in {profiles_dir} "
                          f"without '.toml' (letters, digits, '_' and '-', no paths)")
    path = (profiles_dir / f"{name}.toml").resolve()
    if not path.is_relative_to(profiles_dir.resolve()):  # a symlink out of the folder
        raise ConfigError(f"profile {name!r} resolves to {path}, outside the profiles folder {profiles_dir}")
    return path


def load_profile(name: str, profiles_dir: Path) -> MappingProfile:
    path = profile_path(name, profiles_dir)
    if not path.is_file():
        raise ConfigError(f"mapping profile {name!r} not found: expected {path}")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return parse_profile(raw, source=str(path))


def parse_profile(raw: dict[str, Any], source: str = "<profile>") -> MappingProfile:
    """A profile from its TOML: the shape is validated by a pydantic model, the meaning (fields, code maps,
    patterns) here; every error names the file, the key and what was expected."""
    try:
        model = _ProfileFile.model_validate(raw)
    except ValidationError as exc:
        raise config_error(source, exc) from None

    entities: dict[str, EntityMapping] = {}
    for entity, spec in ENTITY_FIELDS.items():
        section: _EntitySection | None = getattr(model, entity)
        if section is None:
            continue
        columns = section.columns
        unknown = sorted(set(columns) - set(spec))
        if unknown:
            raise ConfigError(f"{source}: [{entity}.columns] names unknown canonical fields {unknown}; expected "
                              f"some of {sorted(spec)}")
        missing = sorted(f for f, s in spec.items() if s.required and f not in columns)
        if missing:
            raise ConfigError(f"{source}: [{entity}.columns] must map the required fields {missing}")
        codes_raw = section.codes
        for code_field in codes_raw:
            if code_field not in spec or spec[code_field].kind is not FieldKind.CODE:
                raise ConfigError(f"{source}: [{entity}.codes.{code_field}] is not a coded field")
        for f, s in spec.items():
            if s.kind is FieldKind.CODE and f in columns and f not in codes_raw:
                raise ConfigError(f"{source}: field {f!r} is mapped but [{entity}.codes.{f}] is missing")
        bad_optional = sorted(f for f in section.optional if f not in columns or spec[f].required)
        if bad_optional:
            raise ConfigError(f"{source}: [{entity}] optional names {bad_optional}; expected mapped fields that are "
                              "not required")
        rej = section.rejected_when
        if rej is not None and rej.field not in spec:
            raise ConfigError(f"{source}: [{entity}] rejected_when.field {rej.field!r} is not a canonical field; "
                              f"expected one of {sorted(columns)}")
        entities[entity] = EntityMapping(
            entity=entity,
            columns=dict(columns),
            codes={f: {_fold(k): v for k, v in m.items()} for f, m in codes_raw.items()},
            code_labels={f: dict(m) for f, m in codes_raw.items()},
            rejected_when=RejectRule(rej.field, frozenset(rej.values)) if rej else None,
            ignored_columns=frozenset(" ".join(c.split()) for c in section.ignored_columns),
            optional=frozenset(section.optional),
        )
    if not entities:
        raise ConfigError(f"{source}: maps no entity (expected one of {sorted(ENTITY_FIELDS)})")
    try:
        patterns = tuple(re.compile(p) for p in model.label_prefix_patterns)
    except re.error as exc:
        raise ConfigError(f"{source}: label_prefix_patterns: {exc}; expected Python regular expressions") from None
    return MappingProfile(
        name=model.name,
        source_system=model.source_system,
        date_format=model.date_format,
        datetime_format=model.datetime_format,
        label_prefix_patterns=patterns,
        true_values=frozenset(_fold(v) for v in model.true_values),
        false_values=frozenset(_fold(v) for v in model.false_values),
        entities=entities,
        unknown_values=frozenset(_fold(v) for v in model.unknown_values),
        harm_mapping_basis=model.harm_mapping_basis,
        record_origin=model.record_origin,
        fhir_local_reference=FhirLocalReference(**model.fhir_local_reference.model_dump())
        if model.fhir_local_reference else None,
    )


def _fold(label: str) -> str:
    return " ".join(str(label).split()).casefold()
