"""The provider registry (``config/providers.toml``): who the partners are and where their feeds are."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from psirf import settings
from psirf.errors import ConfigError

# Connector families. File drops find files by glob in a folder; rest_api pulls from the provider's API.
FILE_SOURCE_TYPES = frozenset({"csv_drop", "excel_drop", "lfpse_fhir_drop"})
SOURCE_TYPES = FILE_SOURCE_TYPES | {"rest_api"}


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
    api: dict[str, Any] | None = None  # rest_api: the [provider.api] table, parsed by connectors.rest_api

    @property
    def entities(self) -> list[str]:
        if self.api is not None:
            return list(self.api.get("endpoints", {}))
        return list(self.feed.globs)


def load_registry(path: Path | None = None, home: Path | None = None) -> list[Provider]:
    path = path or settings.registry_path()
    home = home or settings.psirf_home()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"provider registry not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    providers: list[Provider] = []
    seen: set[str] = set()
    for i, entry in enumerate(raw.get("provider", []), start=1):
        where = f"{path}: provider #{i}"
        for key in ("ods_code", "name", "source_type", "profile"):
            if key not in entry:
                raise ConfigError(f"{where}: missing {key!r}")
        if entry.get("source_type") == "rest_api" and "api" not in entry:
            raise ConfigError(f"{where}: a rest_api provider needs an [provider.api] table")
        if entry.get("source_type") in FILE_SOURCE_TYPES and "feed" not in entry:
            raise ConfigError(f"{where}: a {entry['source_type']} provider needs a [provider.feed] table")
        ods = str(entry["ods_code"]).strip().upper()
        if ods in seen:
            raise ConfigError(f"{where}: ODS code {ods} is registered twice")
        seen.add(ods)
        if entry["source_type"] not in SOURCE_TYPES:
            raise ConfigError(f"{where} ({ods}): unknown source_type {entry['source_type']!r}, expected one of "
                              f"{sorted(SOURCE_TYPES)}")
        feed = dict(entry.get("feed", {"path": f"landing/{ods}"}))
        sheets = {str(k): str(v) for k, v in dict(feed.pop("sheets", {})).items()}
        feed_path = Path(str(feed.pop("path", f"landing/{ods}")))
        providers.append(
            Provider(
                ods_code=ods,
                name=str(entry["name"]),
                source_type=str(entry["source_type"]),
                profile=str(entry["profile"]),
                feed=FeedConfig(path=feed_path if feed_path.is_absolute() else home / feed_path,
                                globs={k: str(v) for k, v in feed.items()}, sheets=sheets),
                enabled=bool(entry.get("enabled", True)),
                api=dict(entry["api"]) if "api" in entry else None,
            )
        )
    if not providers:
        raise ConfigError(f"{path}: no [[provider]] entries")
    return providers


def get_provider(ods_code: str, providers: list[Provider] | None = None) -> Provider:
    providers = providers if providers is not None else load_registry()
    for p in providers:
        if p.ods_code == ods_code.strip().upper():
            return p
    known = ", ".join(p.ods_code for p in providers)
    raise ConfigError(f"provider {ods_code!r} is not in the registry (known: {known})")
