"""The registry and the mapping profiles are validated on load: a mistake is refused, naming file, key and
what was expected, in one line (exit 2 from the CLI) — never trusted, never a traceback."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from psirf.cli import app
from psirf.errors import ConfigError
from psirf.registry import load_registry
from psirf.settings import CONFIG_DIR
from transforms.profile import load_profile

GOOD = """
[[provider]]
ods_code = "{ods}"
name = "A trust"
source_type = "csv_drop"
profile = "{profile}"
enabled = {enabled}
[provider.feed]
path = "{path}"
incidents = "{glob}"
"""


def _registry(tmp_path: Path, **values: str) -> Path:
    fields = {"ods": "RAJ", "profile": "datix_web_listing_v1", "enabled": "true", "path": "feeds/RAJ",
              "glob": "incidents_*.csv", **values}
    path = tmp_path / "providers.toml"
    path.write_text(GOOD.format(**fields), encoding="utf-8")
    return path


def test_a_good_registry_loads(tmp_path):
    [provider] = load_registry(_registry(tmp_path), home=tmp_path / "home")
    assert provider.ods_code == "RAJ" and provider.feed.path == (tmp_path / "home" / "feeds/RAJ").resolve()


@pytest.mark.parametrize(("values", "key", "expected"), [
    ({"ods": "../../EVL"}, "provider #1 ods_code", "expected 3 to 6 capital letters or digits"),
    ({"ods": "RAJ1234"}, "provider #1 ods_code", "not an ODS code"),
    ({"ods": "raj"}, "provider #1 ods_code", "not an ODS code"),
    ({"profile": "../../../etc/passwd"}, "provider #1 (RAJ) profile", "not a profile name"),
    ({"profile": "datix_web_listing_v1.toml"}, "provider #1 (RAJ) profile", "not a profile name"),
    ({"profile": "no_such_profile"}, "provider #1 (RAJ) profile", "expected one of: datix_cloud_listing_v1"),
    ({"enabled": '"yes"'}, "provider #1 (RAJ) enabled", "expected true or false"),
    ({"path": "../../outside"}, "provider #1 (RAJ) feed.path", "leaves $PSIRF_HOME"),
    ({"glob": "../*.csv"}, "provider #1 (RAJ) feed", "leaves the feed folder"),
])
def test_bad_registry_values_are_refused_naming_file_and_key(tmp_path, values, key, expected):
    path = _registry(tmp_path, **values)
    with pytest.raises(ConfigError) as info:
        load_registry(path, home=tmp_path / "home")
    message = str(info.value)
    assert message.startswith(f"{path}: ") and key in message and expected in message, message
    assert "\n" not in message


def test_a_rest_landing_folder_must_be_inside_home(tmp_path):
    path = tmp_path / "providers.toml"
    path.write_text("""
[[provider]]
ods_code = "R1L"
name = "x"
source_type = "rest_api"
profile = "datix_cloud_listing_v1"
[provider.feed]
path = "/tmp/elsewhere"
[provider.api.auth]
type = "none"
[provider.api.endpoints.incidents]
path = "incidents"
primary_key = "recordid"
""", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"\(R1L\) feed.path: '/tmp/elsewhere' leaves \$PSIRF_HOME"):
        load_registry(path, home=tmp_path / "home")
    path.write_text(path.read_text().replace('path = "/tmp/elsewhere"\n', "").replace(
        'primary_key = "recordid"', 'primary_key = "recordid"\npage_size = 0'), encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"^{path}: provider R1L: \[provider.api.endpoints.incidents\] unknown"):
        load_registry(path, home=tmp_path / "home")


def test_a_typo_in_a_provider_key_is_refused(tmp_path):
    path = _registry(tmp_path)
    path.write_text(path.read_text().replace("enabled =", "enable ="), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"provider #1 \(RAJ\) enable: unknown key"):
        load_registry(path, home=tmp_path / "home")


def test_the_cli_refuses_a_bad_registry_in_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("PSIRF_REGISTRY", str(_registry(tmp_path, ods="../../EVL")))
    monkeypatch.setenv("PSIRF_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PSIRF_PSEUDONYMISATION_KEY", "TEST-ONLY-key-for-pseudonymisation-tests-0123")
    from warehouse.migrate import upgrade

    monkeypatch.setenv("PSIRF_WAREHOUSE_URL", f"duckdb:///{tmp_path / 'w.duckdb'}")
    upgrade(f"duckdb:///{tmp_path / 'w.duckdb'}")
    result = CliRunner().invoke(app, ["run"])
    assert result.exit_code == 2, result.output
    assert len(result.output.strip().splitlines()) == 1 and "'../../EVL' is not an ODS code" in result.output
    assert not (tmp_path / "EVL").exists()


@pytest.fixture
def profiles(tmp_path):
    folder = tmp_path / "profiles"
    folder.mkdir()
    shutil.copy(CONFIG_DIR / "profiles" / "datix_web_listing_v1.toml", folder)
    return folder


def test_a_profile_name_cannot_leave_the_profiles_folder(profiles, tmp_path):
    (tmp_path / "outside.toml").write_text((profiles / "datix_web_listing_v1.toml").read_text(), encoding="utf-8")
    with pytest.raises(ConfigError, match="not a profile name"):
        load_profile("../outside", profiles)
    (profiles / "linked.toml").symlink_to(tmp_path / "outside.toml")
    with pytest.raises(ConfigError, match="outside the profiles folder"):
        load_profile("linked", profiles)
    assert load_profile("datix_web_listing_v1", profiles).name == "datix_web_listing_v1"


@pytest.mark.parametrize(("edit", "expected"), [
    (('true_values = ["Y", "Yes"]', 'true_values = "Yes"'), "true_values: got 'Yes'; expected a list"),
    (("date_format =", "date_fromat ="), "date_fromat: unknown key"),
    (('source_record_id = "Datix ID"', 'source_record_id = 7'), "incidents.columns.source_record_id: got 7"),
    (('harm_mapping_basis', 'x'), None),  # absent from this profile: no change
    (('name = "datix_web_listing_v1"', 'name = "datix_web_listing_v1"\nharm_mapping_basis = "guess"'),
     "harm_mapping_basis: Input should be 'provider_profile', 'legacy_nrls' or 'lfpse'"),
])
def test_bad_profile_values_are_refused_naming_file_and_key(profiles, edit, expected):
    path = profiles / "datix_web_listing_v1.toml"
    path.write_text(path.read_text().replace(*edit, 1), encoding="utf-8")
    if expected is None:
        load_profile("datix_web_listing_v1", profiles)
        return
    with pytest.raises(ConfigError) as info:
        load_profile("datix_web_listing_v1", profiles)
    assert str(info.value).startswith(f"{path.resolve()}: ") and expected in str(info.value), str(info.value)
