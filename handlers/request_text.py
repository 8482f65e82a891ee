"""The words of the requests capability: labels, summaries, places, durations and the timeline.

Replies follow STORIES.md: warm, short, and always saying what happens next and who does it. The
sentences themselves live next to the code that sends them (handlers/requests.py); this module holds
the vocabulary they are built from."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from storage.requests import EventKind, OpenedRequest, Request, RequestEvent, RequestStatus
from storage.roles import Role

CATEGORY_LABELS: dict[str, str] = {
    "repair": "设施报修",
    "sanitation": "环境卫生",
    "thrown_objects": "高空抛物",
    "corridor_clutter": "楼道堆物",
    "ebike": "电动车问题",
    "noise": "噪音扰民",
    "dispute": "邻里纠纷",
    "safety_hazard": "安全隐患",
    "emergency": "紧急情况",
    "elder_care": "关爱帮扶",
    "property_complaint": "物业投诉",
}

STATUS_LABELS: dict[RequestStatus, str] = {
    RequestStatus.NEW: "待接单",
    RequestStatus.ACKNOWLEDGED: "已接单",
    RequestStatus.IN_PROGRESS: "处理中",
    RequestStatus.RESOLVED: "已办结,等待居民确认",
    RequestStatus.CLOSED: "已结案",
}


def status_label(request: Request) -> str:
    """The status in words; a request withdrawn (撤销) says so rather than 已结案."""
    return "已撤销" if request.withdrawn else STATUS_LABELS[RequestStatus(request.status)]


def category_label(category: str) -> str:
    return CATEGORY_LABELS.get(category, "诉求")


def summary_for(category: str, object_words: list[str]) -> str:
    """What was understood, in a few characters: 楼道灯报修, 电梯报修, 噪音扰民. A repair is named by the
    most specific (longest) object the message mentions."""
    label = category_label(category)
    if category != "repair" or not object_words:
        return label
    name = max(object_words, key=len)
    return f"{name[:12]}报修"


def place_text(building: str | None, unit: str | None, floor: str | None, room: str | None) -> str:
    """5号楼2单元1202室, 7号楼3楼, 5号楼."""
    parts = [building or "", unit or ""]
    if room:
        parts.append(f"{room}室")
    elif floor:
        parts.append(floor)
    return "".join(parts)


def request_place(request: Request | OpenedRequest, building: str | None = None) -> str:
    """`building`: its name, for a request just opened (whose building is related by id only)."""
    if building is None and isinstance(request, Request) and request.building is not None:
        building = request.building.name
    return place_text(building, request.place_unit, request.place_floor, request.place_room)


def headline(request: Request | OpenedRequest, building: str | None = None) -> str:
    """#12 楼道灯报修(5号楼2单元)."""
    place = request_place(request, building)
    return f"{request.number} {request.summary}({place})" if place else f"{request.number} {request.summary}"


def duration_text(delta: timedelta) -> str:
    """24 小时, 3 天, 10 分钟, 1 天 12 小时."""
    minutes = round(delta.total_seconds() / 60)
    if minutes < 60:
        return f"{minutes} 分钟"
    hours, minutes = divmod(minutes, 60)
    if hours <= 24 or (hours % 24 and hours < 48):
        return f"{hours} 小时" + (f" {minutes} 分钟" if minutes else "")
    days, hours = divmod(hours, 24)
    return f"{days} 天" + (f" {hours} 小时" if hours else "")


def role_label(role: str) -> str:
    try:
        return Role(role).label
    except ValueError:
        return role


def _arrow(old: str | None, new: str | None) -> str:
    if old and new:
        return f"{old} → {new}"
    return new or old or ""


def event_text(event: RequestEvent) -> str:
    """One line of the timeline: what happened, old → new, and the note."""
    kind = EventKind(event.kind)
    note = f":{event.note}" if event.note else ""
    match kind:
        case EventKind.CREATED:
            return f"登记,交 {event.new} 处理" if event.new else "登记"
        case EventKind.PLUS_ONE:
            return f"也反映了这个问题(共 {event.new} 位)"
        case EventKind.ACKNOWLEDGED:
            return "接单"
        case EventKind.PROGRESS:
            return f"更新进展{note}"
        case EventKind.RESOLVED:
            return f"办结{note}"
        case EventKind.REASSIGNED:
            return f"转派 {_arrow(event.old, event.new)}{note}"
        case EventKind.RETURNED:
            return f"退回 {_arrow(event.old, event.new)}{note}"
        case EventKind.REMINDED:
            return f"{event.note or '超时'},已提醒 {event.new or ''}".rstrip()
        case EventKind.ESCALATED:
            return f"{event.note or '超时'},升级 {_arrow(event.old, event.new)}"
        case EventKind.NOTE:
            return f"补充{note}"
        case EventKind.RESIDENT_UPDATE:
            return f"居民反馈{note}"
        case EventKind.FOLLOWUP:
            return "回访:请居民确认是否解决"
        case EventKind.REOPENED:
            return f"不满意,重新处理{note}"
        case EventKind.CLOSED:
            return f"结案{note}"
        case EventKind.EXPIRED:
            return f"回访 {event.note or ''} 未回复,按未确认结案"
        case EventKind.WITHDRAWN:
            return f"撤销{note}"


_PUNCTUATION = re.compile(r"[\s,。!?、~…,.!?~]+")


def squeeze(text: str) -> str:
    """Text without spaces and punctuation, for matching short answers."""
    return _PUNCTUATION.sub("", text)


# ---------------------------------------------------------------------------------------------------
# Emergencies: which number to call and what to do meanwhile


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


@dataclass(frozen=True)
class EmergencyKind:
    words: tuple[str, ...]
    number: str
    advice: str


EMERGENCY_KINDS: tuple[EmergencyKind, ...] = (
    EmergencyKind(
        _words("燃气 煤气 天然气 漏气 液化气"),
        "119",
        "不要开关电器、不要点火,打开门窗通风,人先到室外再打电话。",
    ),
    EmergencyKind(
        _words("着火 起火 失火 火灾 冒烟 黑烟 浓烟 烧起来 火苗 火"),
        "119",
        "不要乘电梯,用湿毛巾捂住口鼻,沿楼梯往下撤离。",
    ),
    EmergencyKind(
        _words("困梯 困在电梯 电梯困人 关在电梯 卡在电梯 电梯里出不来 被困"),
        "119",
        "被困的人请按电梯里的警铃,不要扒门,耐心等待救援。",
    ),
    EmergencyKind(
        _words(
            "晕倒 昏倒 摔倒 跌倒 昏迷 不省人事 没有意识 没意识 心脏 抽搐 呼吸 喘不上气 流血 出血 受伤 "
            "救护车 中风 倒地 叫不醒 急救"
        ),
        "120",
        "不要随意搬动病人,守在身边等救护车,方便的邻居请到楼下接一下。",
    ),
    EmergencyKind(
        _words("打人 打架 持刀 拿刀 砍人 小偷 抢劫 偷东西 撬门 撬锁 闯入 家暴 报警"),
        "110",
        "请先保护好自己,远离危险。",
    ),
)


def emergency_kinds(text: str) -> list[EmergencyKind]:
    """The kinds of emergency the words suggest, one per emergency number."""
    found: list[EmergencyKind] = []
    for kind in EMERGENCY_KINDS:
        if any(word in text for word in kind.words) and kind.number not in {k.number for k in found}:
            found.append(kind)
    return found


def emergency_advice(text: str) -> tuple[str, bool]:
    """The sentence with the numbers to call and what to do, and whether it is a police matter."""
    kinds = emergency_kinds(text)
    if not kinds:
        return "请立即拨打 110(报警)、119(火警)或 120(急救)。", True
    numbers = "、".join(dict.fromkeys(kind.number for kind in kinds))
    advice = "".join(dict.fromkeys(kind.advice for kind in kinds))
    return f"请立即拨打 {numbers}。{advice}", any(kind.number == "110" for kind in kinds)


# ---------------------------------------------------------------------------------------------------
# 回访 answers


@dataclass(frozen=True)
class Verdict:
    satisfied: bool
    rating: int | None = None

    @property
    def label(self) -> str:
        if self.rating is not None:
            return f"{self.rating} 分"
        return "满意" if self.satisfied else "不满意"


_SCORE = re.compile(r"^([1-5一二三四五])(?:分|星)?$")
_CN_SCORE = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5}
SATISFIED_WORDS = frozenset(_words("满意 很满意 非常满意 挺满意 满意了 十分满意 比较满意 基本满意"))
UNSATISFIED_WORDS = frozenset(_words("不满意 很不满意 非常不满意 不太满意 不是很满意"))
_NOT_FIXED = _words("不满意 没修好 没有修好 还没 没解决 没有解决 还是坏 又坏 没好 没弄好 还是不 不行")
_FIXED = _words("满意 解决了 修好了 好了 可以了 谢谢 不错 没问题 辛苦")


def parse_verdict(text: str, *, lenient: bool) -> Verdict | None:
    """满意 / 不满意 / 1–5 (3 and up count as satisfied). `lenient` for replies to the 回访 itself,
    where "修好了,谢谢" and "还是不亮" are answers too."""
    plain = squeeze(text)
    if match := _SCORE.match(plain):
        digit = match.group(1)
        rating = int(digit) if digit.isdigit() else _CN_SCORE[digit]
        return Verdict(satisfied=rating >= 3, rating=rating)
    if plain in UNSATISFIED_WORDS:
        return Verdict(satisfied=False)
    if plain in SATISFIED_WORDS:
        return Verdict(satisfied=True)
    if not lenient:
        return None
    if any(word in plain for word in _NOT_FIXED):
        return Verdict(satisfied=False)
    if any(word in plain for word in _FIXED):
        return Verdict(satisfied=True)
    return None
