from pathlib import Path

import pytest

from bot.config import DEMO_DIRECTORY, ConfigError, load_settings


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("LOUDONG_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def test_defaults_give_sqlite_in_the_data_dir_and_the_demo_directory() -> None:
    settings = load_settings()
    assert settings.web_port == 8080
    assert settings.web_host == "127.0.0.1"
    assert settings.directory == DEMO_DIRECTORY
    assert DEMO_DIRECTORY.is_file()
    assert settings.resolved_database_url.startswith("sqlite+aiosqlite:///")
    assert settings.resolved_database_url.endswith("data/loudong.db")


def test_environment_variables_with_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOUDONG_WEB_PORT", "9090")
    monkeypatch.setenv("LOUDONG_DATABASE_URL", "postgresql+asyncpg://u@h/db")
    settings = load_settings()
    assert settings.web_port == 9090
    assert settings.resolved_database_url == "postgresql+asyncpg://u@h/db"


@pytest.mark.parametrize(
    ("name", "value"),
    [("LOUDONG_WEB_PORT", "eighty"), ("LOUDONG_WEB_PORT", "70000"), ("LOUDONG_LOG_LEVEL", "LOUD")],
)
def test_a_bad_value_names_the_setting(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as error:
        load_settings()
    assert name in str(error.value)
    assert value in str(error.value)


def test_config_file_is_read_and_environment_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "loudong.toml").write_text('web_port = 8181\nbot_name = "小楼"\n', encoding="utf-8")
    assert load_settings().web_port == 8181
    assert load_settings().bot_name == "小楼"
    monkeypatch.setenv("LOUDONG_WEB_PORT", "8282")
    assert load_settings().web_port == 8282


def test_explicit_config_file_must_exist(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LOUDONG_CONFIG_FILE", str(tmp_path / "missing.toml"))
    with pytest.raises(ConfigError, match="LOUDONG_CONFIG_FILE"):
        load_settings()


def test_unknown_key_in_config_file_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "custom.toml"
    path.write_text("web_prot = 1\n", encoding="utf-8")
    monkeypatch.setenv("LOUDONG_CONFIG_FILE", str(path))
    with pytest.raises(ConfigError, match="WEB_PROT"):
        load_settings()
