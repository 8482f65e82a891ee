"""帮助: what the sender's role may do here."""

from __future__ import annotations

from handlers.context import Context
from handlers.router import HandlerResult, Router

router = Router(name="help")

_RESIDENT_HINT = "有问题直接在群里说就行,比如\u201c2单元楼道灯坏了\u201d,我会登记并通知负责的同志。"


@router.command("帮助", "/help", "菜单", summary="查看我能帮你做什么")
async def show_help(ctx: Context) -> HandlerResult:
    allowed = [command for command in ctx.registry.commands if command.allows(ctx.role)]
    lines = [f"{ctx.sender_name}({ctx.role.label})可以发:"]
    lines += [f"· {command.usage} — {command.summary}" for command in allowed]
    lines.append(_RESIDENT_HINT)
    return [ctx.reply("\n".join(lines))]
