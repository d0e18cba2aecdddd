"""Settings from TOML and LIENTHONG_AGENT_*: precedence, validation, and secrets never shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from lienthong.agent.settings import (
    AgentSettings,
    ApiKey,
    PortalSettings,
    SettingsError,
    hash_api_key,
    new_api_key,
)

SECRET = "mat-khau-rat-bi-mat"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "agent.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults() -> None:
    settings = AgentSettings.load(environ={})
    assert settings.database_url == "sqlite:///var/agent.db"
    assert (settings.host, settings.port, settings.batch_size) == ("127.0.0.1", 8130, 500)
    portal = settings.portal
    assert (portal.login_path, portal.integration_path, portal.share_path) == (
        "/api/login",
        "/api/integration",
        "/api/share",
    )


def test_toml_then_environment_then_options(tmp_path: Path) -> None:
    key_hash = hash_api_key("k")
    config = _write(
        tmp_path,
        f"""
database_url = "sqlite:///from-file.db"
port = 9000
batch_size = 100
units = ["000.00.00.H56"]

[portal]
base_url = "https://dichvucong.example.gov.vn"
integration_path = "/adapter/integration"
username = "mcdt"
password = "{SECRET}"

[[api_keys]]
name = "motcua"
key_sha256 = "{key_hash}"
units = ["000.00.00.H56"]
""",
    )
    environ = {
        "LIENTHONG_AGENT_PORT": "9100",
        "LIENTHONG_AGENT_PORTAL_SHARE_PATH": "/adapter/share",
    }
    settings = AgentSettings.load(config, environ=environ, batch_size=7, host=None)
    assert settings.database_url == "sqlite:///from-file.db"
    assert settings.port == 9100 and settings.batch_size == 7 and settings.host == "127.0.0.1"
    assert settings.portal.integration_path == "/adapter/integration"
    assert settings.portal.share_path == "/adapter/share"
    assert settings.units == ("000.00.00.H56",)
    assert settings.api_keys == (ApiKey("motcua", key_hash, ("000.00.00.H56",)),)
    settings.validate()


def test_the_password_is_never_shown(tmp_path: Path) -> None:
    settings = AgentSettings(portal=PortalSettings(username="mcdt", password=SECRET))
    assert SECRET not in repr(settings)
    assert SECRET not in str(settings.portal)
    assert SECRET not in str(settings.describe())
    assert settings.describe()["portal"]["password"] == "***"
    assert settings.portal.resolved_password() == SECRET


def test_password_file(tmp_path: Path) -> None:
    secret_file = tmp_path / "pw"
    secret_file.write_text(SECRET + "\n", encoding="utf-8")
    portal = PortalSettings(username="mcdt", password_file=str(secret_file))
    assert portal.resolved_password() == SECRET
    with pytest.raises(SettingsError, match="password_file"):
        PortalSettings(password_file=str(tmp_path / "missing")).resolved_password()


def test_api_keys_from_the_environment() -> None:
    digest = hash_api_key("k1")
    settings = AgentSettings.load(
        environ={
            "LIENTHONG_AGENT_API_KEYS": f"motcua:{digest}:000.00.00.H56,000.00.00.H60",
            "LIENTHONG_AGENT_UNITS": "000.00.00.H56",
        }
    )
    assert settings.api_keys == (ApiKey("motcua", digest, ("000.00.00.H56", "000.00.00.H60")),)
    assert settings.key_for("k1") == settings.api_keys[0]
    assert settings.key_for("k2") is None
    with pytest.raises(SettingsError, match="API_KEYS"):
        AgentSettings.load(environ={"LIENTHONG_AGENT_API_KEYS": "only-a-name"})


def test_a_key_may_submit_for_its_units_and_the_units_under_them() -> None:
    key = ApiKey("motcua", hash_api_key("k"), ("000.00.00.H56",))
    assert key.may_submit_for("000.00.00.H56") and key.may_submit_for("000.00.13.H56")
    assert not key.may_submit_for("000.00.00.H60") and not key.may_submit_for("rác")
    assert "key_sha256" not in repr(key)
    assert new_api_key() != new_api_key()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("prot = 1", "unknown setting"),
        ("[portal]\nbase = 'x'", "unknown portal setting"),
        ("port = 'abc'", "not a number"),
        ("[[api_keys]]\nname = 'a'", "key_sha256"),
        ("port = [", "agent.toml"),
    ],
)
def test_bad_files_name_the_problem(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        AgentSettings.load(_write(tmp_path, text), environ={})


def test_validate_refuses_what_cannot_run() -> None:
    with pytest.raises(SettingsError, match="username"):
        AgentSettings().validate()
    with pytest.raises(SettingsError, match="batch_size"):
        AgentSettings(batch_size=0, deliver=False).validate()
    with pytest.raises(SettingsError, match="at least one unit"):
        AgentSettings(api_keys=(ApiKey("a", "0" * 64),), deliver=False).validate()
    AgentSettings(deliver=False).validate()


def test_a_provincial_adapter_from_toml_and_the_environment(tmp_path: Path) -> None:
    secret_file = tmp_path / "client-secret"
    secret_file.write_text(SECRET + "\n", encoding="utf-8")
    config = _write(
        tmp_path,
        f"""
[portal]
kind = "lgsp"
base_url = "https://lgsp.example.gov.vn/lgsp"
lgsp_client_id = "mcdt_thanhhoa"
lgsp_client_secret_file = "{secret_file}"
lgsp_add_path = "ThemMoiHoSo"
""",
    )
    environ = {"LIENTHONG_AGENT_PORTAL_LGSP_UPDATE_PATH": "CapNhatHoSo"}
    portal = AgentSettings.load(config, environ=environ).portal
    assert (portal.kind, portal.account, portal.lgsp_token_path) == (
        "lgsp",
        "mcdt_thanhhoa",
        "/token",
    )
    assert (portal.lgsp_add_path, portal.lgsp_update_path, portal.lgsp_progress_path) == (
        "ThemMoiHoSo",
        "CapNhatHoSo",
        "",
    )
    assert portal.lgsp_share_prefix == "KetNoiMotCuaQuocGia"
    assert portal.resolved_client_secret() == SECRET
    AgentSettings(portal=portal).validate()  # the client id stands for the username


def test_the_client_secret_is_never_shown_and_defaults_to_the_password(tmp_path: Path) -> None:
    portal = PortalSettings(kind="lgsp", username="mcdt", lgsp_client_secret=SECRET)
    settings = AgentSettings(portal=portal)
    assert SECRET not in repr(settings) and SECRET not in str(settings.describe())
    assert settings.describe()["portal"]["lgsp_client_secret"] == "***"
    assert portal.account == "mcdt" and portal.resolved_client_secret() == SECRET
    assert PortalSettings(kind="lgsp", password=SECRET).resolved_client_secret() == SECRET
    with pytest.raises(SettingsError, match="lgsp_client_secret_file"):
        PortalSettings(lgsp_client_secret_file=str(tmp_path / "missing")).resolved_client_secret()


def test_the_portal_kind_is_checked() -> None:
    with pytest.raises(SettingsError, match=r"portal\.kind"):
        AgentSettings(portal=PortalSettings(kind="soap", username="u")).validate()
    with pytest.raises(SettingsError, match="lgsp_client_id"):
        AgentSettings(portal=PortalSettings(kind="lgsp")).validate()
