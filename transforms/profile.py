"""Mapping profiles: how one export layout maps onto the canonical model (columns and code maps).

Per-source differences live here, in ``config/profiles/<name>.toml``, never in code. A profile names, per
entity, the source column for each canonical field and the local-label -> national-code maps.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from psirf.errors import ConfigError
from transforms.fields import ENTITY_FIELDS, FieldKind


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

    def entity(self, name: str) -> EntityMapping:
        try:
            return self.entities[name]
        except KeyError:
            raise ConfigError(f"profile {self.name!r} has no mapping for entity {name!r}") from None


def load_profile(name: str, profiles_dir: Path) -> MappingProfile:
    path = profiles_dir / f"{name}.toml"
    if not path.is_file():
        raise ConfigError(f"mapping profile {name!r} not found: expected {path}")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return parse_profile(raw, source=str(path))


def parse_profile(raw: dict, source: str = "<profile>") -> MappingProfile:
    def need(key: str) -> str:
        value = raw.get(key)
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{source}: required setting {key!r} is missing")
        return value

    entities: dict[str, EntityMapping] = {}
    for entity, spec in ENTITY_FIELDS.items():
        section = raw.get(entity)
        if section is None:
            continue
        columns = section.get("columns") or {}
        unknown = sorted(set(columns) - set(spec))
        if unknown:
            raise ConfigError(f"{source}: [{entity}.columns] names unknown canonical fields {unknown}")
        missing = sorted(f for f, s in spec.items() if s.required and f not in columns)
        if missing:
            raise ConfigError(f"{source}: [{entity}.columns] must map the required fields {missing}")
        codes_raw = section.get("codes") or {}
        for code_field in codes_raw:
            if code_field not in spec or spec[code_field].kind is not FieldKind.CODE:
                raise ConfigError(f"{source}: [{entity}.codes.{code_field}] is not a coded field")
        for f, s in spec.items():
            if s.kind is FieldKind.CODE and f in columns and f not in codes_raw:
                raise ConfigError(f"{source}: field {f!r} is mapped but [{entity}.codes.{f}] is missing")
        rej = section.get("rejected_when")
        entities[entity] = EntityMapping(
            entity=entity,
            columns={k: str(v) for k, v in columns.items()},
            codes={f: {_fold(k): str(v) for k, v in m.items()} for f, m in codes_raw.items()},
            code_labels={f: {k: str(v) for k, v in m.items()} for f, m in codes_raw.items()},
            rejected_when=RejectRule(rej["field"], frozenset(rej["values"])) if rej else None,
            ignored_columns=frozenset(" ".join(str(c).split()) for c in section.get("ignored_columns", [])),
        )
    if not entities:
        raise ConfigError(f"{source}: maps no entity (expected one of {sorted(ENTITY_FIELDS)})")
    try:
        patterns = tuple(re.compile(p) for p in raw.get("label_prefix_patterns", []))
    except re.error as exc:
        raise ConfigError(f"{source}: bad label_prefix_patterns: {exc}") from None
    return MappingProfile(
        name=need("name"),
        source_system=need("source_system"),
        date_format=raw.get("date_format", "%d/%m/%Y"),
        datetime_format=raw.get("datetime_format", "%d/%m/%Y %H:%M"),
        label_prefix_patterns=patterns,
        true_values=frozenset(_fold(v) for v in raw.get("true_values", ["yes", "y"])),
        false_values=frozenset(_fold(v) for v in raw.get("false_values", ["no", "n"])),
        entities=entities,
        unknown_values=frozenset(_fold(v) for v in raw.get("unknown_values", [])),
        harm_mapping_basis=str(raw.get("harm_mapping_basis", "provider_profile")),
    )


def _fold(label: str) -> str:
    return " ".join(str(label).split()).casefold()
