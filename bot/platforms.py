"""Real chat platforms from settings: OneBot v11 and WeCom, each only when configured."""

from __future__ import annotations

from pydantic import SecretStr

from bot.adapters.base import Adapter
from bot.adapters.onebot import OneBotAdapter
from bot.adapters.wecom import WeComCallback, WeComRobot
from bot.config import Settings
from handlers.clock import Clock


def _reveal(secret: SecretStr | None) -> str | None:
    return secret.get_secret_value() if secret else None


def onebot_adapter(settings: Settings, clock: Clock) -> OneBotAdapter | None:
    if not settings.onebot_enabled:
        return None
    return OneBotAdapter(
        access_token=_reveal(settings.onebot_access_token),
        secret=_reveal(settings.onebot_secret),
        ws_path=settings.onebot_ws_path,
        http_path=settings.onebot_http_path,
        api_url=settings.onebot_api_url,
        action_timeout=settings.onebot_action_timeout,
        clock=clock,
    )


def wecom_adapter(settings: Settings, clock: Clock) -> WeComRobot | WeComCallback | None:
    """The callback (inbound, answering through its robot) when the app is configured, else the robot
    alone for outbound notices, else nothing."""
    has_robot = bool(settings.wecom_robot_webhook or settings.wecom_robot_webhooks)
    has_app = bool(settings.wecom_corp_id and settings.wecom_token and settings.wecom_encoding_aes_key)
    if not (has_robot or has_app):
        return None
    robot = WeComRobot(
        webhooks=settings.wecom_robot_webhooks,
        default_webhook=settings.wecom_robot_webhook,
        markdown=settings.wecom_robot_markdown,
        clock=clock,
    )
    if not has_app:
        return robot
    return WeComCallback(
        token=_reveal(settings.wecom_token) or "",
        encoding_aes_key=_reveal(settings.wecom_encoding_aes_key) or "",
        corp_id=settings.wecom_corp_id or "",
        path=settings.wecom_callback_path,
        robot=robot,
        robot_name=settings.bot_name,
        clock=clock,
    )


def platform_adapters(settings: Settings, clock: Clock) -> list[Adapter]:
    found = [onebot_adapter(settings, clock), wecom_adapter(settings, clock)]
    return [adapter for adapter in found if adapter is not None]
