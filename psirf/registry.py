"""The provider registry (``config/providers.toml``): who the partners are and where their feeds are."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictStr,
    ValidationError,
    field_validator,
    model_validator,
)

from connectors.base import SourceFamily
from connectors.registry import FAMILIES, family_of
from psirf import settings
from psirf.errors import ConfigError
from psirf.validation import config_error


@dataclass(frozen=True)
class FeedConfig:
    path: Path
    globs: dict[str, str]  # entity -> glob inside path
    sheets: dict[str, str] = field(default_factory=dict)  # excel_drop: entity -> sheet name


@dataclass(frozen=True)
class Provider:
    ods_code: str
    name: str
    source_type: str
    profile: str
    feed: FeedConfig
    enabled: bool = True
    api: dict[str, Any] | None = None  # rest_api: the [provider.api] table, parsed by connectors.rest_api.client

    @property
    def entities(self) -> list[str]:
        if self.api is not None:
            return list(self.api.get("endpoints", {}))
        return list(self.feed.globs)


ODS_CODE = re.compile(r"[A-Z0-9]{3,6}")
"""The shapes of ODS codes the registry holds: trusts ``RAJ``, ICBs ``QH8``, GP practices ``A81001``."""
PROFILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
"""A profile is named by its file in the profiles folder, without ``.toml``: no paths, no dots."""
ENTITIES = ("incidents", "safety_actions", "learning_responses")


class _Feed(BaseModel):
    """``[provider.feed]``: the folder, a glob per entity (``incidents = "incidents_*.csv"``), Excel sheet names."""

    model_config = ConfigDict(extra="allow")

    path: StrictStr | None = None
    sheets: dict[str, StrictStr] = {}

    @model_validator(mode="after")
    def _globs(self) -> _Feed:
        for entity, pattern in (self.model_extra or {}).items():
            if entity not in ENTITIES:
                raise ValueError(f"unknown key {entity!r}: expected a path, sheets, or a glob per entity "
                                 f"({', '.join(ENTITIES)})")
            if not isinstance(pattern, str) or not pattern.strip():
                raise ValueError(f"{entity}: expected a file-name glob such as 'incidents_*.csv', got {pattern!r}")
            if pattern.startswith("/") or ".." in Path(pattern).parts:
                raise ValueError(f"{entity}: the glob {pattern!r} leaves the feed folder; expected a file-name glob "
                                 f"inside it")
        return self

    def globs(self) -> dict[str, str]:
        return {str(k): str(v) for k, v in (self.model_extra or {}).items()}


class _Entry(BaseModel):
    """One ``[[provider]]`` table."""

    model_config = ConfigDict(extra="forbid")

    ods_code: StrictStr
    name: StrictStr = Field(min_length=1)
    source_type: StrictStr  # a family in connectors.registry
    profile: StrictStr
    enabled: StrictBool = True
    feed: _Feed | None = None
    api: dict[str, Any] | None = None

    @field_validator("ods_code")
    @classmethod
    def _ods(cls, value: str) -> str:
        if not ODS_CODE.fullmatch(value):
            raise ValueError(f"{value!r} is not an ODS code; expected 3 to 6 capital letters or digits "
                             f"(e.g. RAJ, QH8, A81001)")
        return value

    @field_validator("source_type")
    @classmethod
    def _source_type(cls, value: str) -> str:
        if value not in FAMILIES:
            raise ValueError(f"{value!r} is not a source family; expected one of: {', '.join(FAMILIES)}")
        return value

    @field_validator("profile")
    @classmethod
    def _profile(cls, value: str) -> str:
        if not PROFILE_NAME.fullmatch(value):
            raise ValueError(f"{value!r} is not a profile name; expected the name of a file in the profiles "
                             f"folder without '.toml' (letters, digits, '_' and '-', no paths)")
        return value

    @model_validator(mode="after")
    def _family(self) -> _Entry:
        needs_api = family_of(self.source_type).needs_api
        if needs_api and self.api is None:
            raise ValueError(f"a {self.source_type} provider needs an [provider.api] table")
        if not needs_api and self.feed is None:
            raise ValueError(f"a {self.source_type} provider needs a [provider.feed] table")
        return self


class _RegistryFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    provider: list[_Entry] = Field(min_length=1)


def _where(raw: dict[str, Any]) -> Any:
    """``provider #2 (RAJ) ods_code`` for a pydantic error location."""

    def label(loc: tuple[int | str, ...]) -> str:
        if len(loc) >= 2 and loc[0] == "provider" and isinstance(loc[1], int):
            entries = raw.get("provider") or []
            entry = entries[loc[1]] if loc[1] < len(entries) and isinstance(entries[loc[1]], dict) else {}
            ods = entry.get("ods_code")
            named = isinstance(ods, str) and loc[2:3] != ("ods_code",)
            head = f"provider #{loc[1] + 1}" + (f" ({ods})" if named else "")
            rest = ".".join(str(p) for p in loc[2:])
            return f"{head} {rest}".strip() if rest else head
        return ".".join(str(p) for p in loc) or "the file"

    return label


def _inside(home: Path, path: Path) -> bool:
    return path.resolve().is_relative_to(home.resolve())


def _feed_path(path: Path, where: str, entry: _Entry, home: Path) -> Path:
    """The feed folder: relative paths are under ``$PSIRF_HOME`` and must stay inside it; a REST provider's folder
    is where its records land (an output, holding identifiers until loaded), so it must be inside it too. A file
    drop may name an absolute input folder elsewhere (e.g. an SFTP mount)."""
    ods = entry.ods_code
    lands = family_of(entry.source_type).lands_files
    raw = entry.feed.path if entry.feed is not None and entry.feed.path is not None else f"landing/{ods}"
    folder = Path(raw) if Path(raw).is_absolute() else home / raw
    if (not Path(raw).is_absolute() or lands) and not _inside(home, folder):
        raise ConfigError(f"{path}: {where} ({ods}) feed.path: {raw!r} leaves $PSIRF_HOME ({home}); expected a "
                          f"folder inside it{' (records land there)' if lands else ''}")
    return folder


def load_registry(path: Path | None = None, home: Path | None = None) -> list[Provider]:
    """The registry, validated: ODS codes, profile names (plain names of files in the profiles folder), feed
    folders inside ``$PSIRF_HOME``, and each REST provider's ``[provider.api]`` table. A mistake raises
    :class:`ConfigError` naming the file, the provider, the key and what was expected."""
    path = path or settings.registry_path()
    home = home or settings.psirf_home()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"provider registry not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    if not raw.get("provider"):
        raise ConfigError(f"{path}: no [[provider]] entries")
    try:
        registry = _RegistryFile.model_validate(raw)
    except ValidationError as exc:
        raise config_error(str(path), exc, _where(raw)) from None
    profiles = settings.profiles_dir()
    providers: list[Provider] = []
    seen: set[str] = set()
    for i, entry in enumerate(registry.provider, start=1):
        where = f"provider #{i}"
        ods = entry.ods_code
        if ods in seen:
            raise ConfigError(f"{path}: {where} ods_code: {ods} is registered twice; expected one entry per "
                              f"provider")
        seen.add(ods)
        if not (profiles / f"{entry.profile}.toml").is_file():
            known = ", ".join(sorted(p.stem for p in profiles.glob("*.toml")))
            raise ConfigError(f"{path}: {where} ({ods}) profile: no profile {entry.profile!r} in {profiles}; "
                              f"expected one of: {known}")
        if entry.api is not None:
            try:
                family_of(entry.source_type).validate_config(ods, entry.api)
            except ConfigError as exc:
                raise ConfigError(f"{path}: {exc}") from None
        feed = entry.feed or _Feed()
        providers.append(
            Provider(
                ods_code=ods,
                name=entry.name,
                source_type=entry.source_type,
                profile=entry.profile,
                feed=FeedConfig(path=_feed_path(path, where, entry, home), globs=feed.globs(),
                                sheets=dict(feed.sheets)),
                enabled=entry.enabled,
                api=dict(entry.api) if entry.api is not None else None,
            )
        )
    return providers


def family(provider: Provider) -> SourceFamily:
    """The source family that reads this provider's batches (:mod:`connectors.registry`)."""
    return family_of(provider.source_type)


def get_provider(ods_code: str, providers: list[Provider] | None = None) -> Provider:
    providers = providers if providers is not None else load_registry()
    for p in providers:
        if p.ods_code == ods_code.strip().upper():
            return p
    known = ", ".join(p.ods_code for p in providers)
    raise ConfigError(f"provider {ods_code!r} is not in the registry (known: {known})")


def record_origin(provider: Provider) -> str:
    """Which record of its organisations a provider's feed is, from its mapping profile's ``record_origin``:
    ``local`` (the provider's own records) or ``lfpse_national`` (the national LFPSE record of other
    organisations, e.g. X24's export for the partner trusts). A national-record feed is listed as a feed (its
    files get checked and reported) but is not a provider in provider-level measures, and has no worklist."""
    from transforms.profile import load_profile

    return load_profile(provider.profile, settings.profiles_dir()).record_origin


def is_national_record(ods_code: str, providers: list[Provider] | None = None) -> bool:
    """True when the registered feed ``ods_code`` is a national record (``record_origin = "lfpse_national"``);
    False for a provider's own feed or a code the registry does not hold."""
    try:
        return record_origin(get_provider(ods_code, providers)) == "lfpse_national"
    except ConfigError:
        return False
