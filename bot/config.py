"""Configuration: environment variables prefixed LOUDONG_, an optional TOML file, then defaults.

The file is `loudong.toml` in the working directory, or the path in LOUDONG_CONFIG_FILE; its keys are
the setting names without the prefix, in lower case (`web_port = 8081`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

DEMO_DIRECTORY = Path(__file__).parent / "demo" / "community.yaml"
CONFIG_FILE_ENV = "LOUDONG_CONFIG_FILE"


class ConfigError(Exception):
    """A setting has a bad value; the message names the setting."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LOUDONG_", extra="forbid", validate_default=True)

    data_dir: Path = Path("data")
    database_url: str = ""  # empty: a SQLite file in data_dir
    directory: Path = DEMO_DIRECTORY
    web_host: str = "127.0.0.1"
    web_port: int = Field(8080, ge=1, le=65535)
    web_chat: bool = True
    bot_name: str = "楼栋助手"
    log_level: str = "INFO"
    log_json: bool = True
    # Beijing times (HH:MM) of the daily digest to grid and micro-grid leaders and of patrol reminders.
    digest_time: str = "18:00"
    patrol_reminder_time: str = "08:00"
    # Hours an outbound action may wait for its platform's connection (a QQ bridge restarting, its
    # network down) before it is given up: a day, so a reply or @-tag still goes out after a night's
    # outage, but an answer to yesterday morning's message is not posted out of the blue.
    outbox_wait_hours: float = Field(24.0, gt=0)

    # OneBot v11 (QQ and WeChat bridges); used by bot/adapters/onebot.py.
    onebot_enabled: bool = False
    onebot_access_token: SecretStr | None = None
    onebot_secret: SecretStr | None = None  # HMAC-SHA1 key for X-Signature on POSTed events
    onebot_ws_path: str = "/onebot/v11/ws"
    onebot_http_path: str = "/onebot/v11/http"
    onebot_api_url: str | None = None  # the implementation's HTTP API, for HTTP mode
    onebot_action_timeout: float = Field(10.0, gt=0)

    # WeCom (企业微信); used by bot/adapters/wecom.py.
    wecom_robot_webhook: str | None = None  # default robot, for groups not in wecom_robot_webhooks
    wecom_robot_webhooks: dict[str, str] = {}  # group id -> its robot's webhook (one robot per group)
    wecom_robot_markdown: bool = False
    wecom_corp_id: str | None = None
    wecom_token: SecretStr | None = None
    wecom_encoding_aes_key: SecretStr | None = None
    wecom_callback_path: str = "/wecom/callback"

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        value = value.upper()
        if value not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR")
        return value

    @field_validator("digest_time", "patrol_reminder_time")
    @classmethod
    def _clock_time(cls, value: str) -> str:
        hour, sep, minute = value.strip().partition(":")
        if not (sep and hour.isdigit() and minute.isdigit() and int(hour) < 24 and int(minute) < 60):
            raise ValueError("must be a time of day like 18:00")
        return f"{int(hour):02d}:{int(minute):02d}"

    @field_validator("onebot_ws_path", "onebot_http_path", "wecom_callback_path")
    @classmethod
    def _absolute_path(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("must start with /")
        return value

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'loudong.db').resolve()}"

    @property
    def web_url(self) -> str:
        return f"http://{self.web_host}:{self.web_port}"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = _config_file()
        if config_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=config_file))
        return tuple(sources)


def _config_file() -> Path | None:
    explicit = os.environ.get(CONFIG_FILE_ENV)
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError(f"{CONFIG_FILE_ENV}: no such file: {path}")
        return path
    default = Path("loudong.toml")
    return default if default.is_file() else None


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment and config file; a bad value raises ConfigError naming it."""
    try:
        return Settings(**overrides)
    except ValidationError as error:
        problems = []
        for item in error.errors():
            name = ".".join(str(part) for part in item["loc"]) or "?"
            problems.append(f"LOUDONG_{name.upper()}: {item['msg']} (got {item.get('input')!r})")
        raise ConfigError("bad configuration:\n  " + "\n  ".join(problems)) from None
    except ValueError as error:  # e.g. an unreadable TOML file
        raise ConfigError(f"bad configuration file: {error}") from None
