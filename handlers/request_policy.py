"""How requests are routed and chased, per community: who owns each kind of request, the time limits
to acknowledge and resolve it, the merge window, the +1 re-tag threshold, working hours for
non-urgent reminders and the number of days a 回访 waits for an answer.

The defaults below follow the intent table of DESIGN.md. A community overrides any of them in the
directory, under its community unit's `policy:` key (stored in `Unit.details["policy"]`); the shape
is documented in docs/requests.md. Overrides are merged key by key over the defaults, so a community
that only wants repairs resolved within two days writes `intents: {repair: {resolve: 2d}}`."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from datetime import datetime, time, timedelta
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from handlers.clock import local
from storage.roles import Role, UnitKind

log = logging.getLogger("loudong.requests")

# The intents that become requests. policy_query, micro_wish and proposal have their own capabilities.
REQUEST_INTENTS: tuple[str, ...] = (
    "repair",
    "sanitation",
    "thrown_objects",
    "corridor_clutter",
    "ebike",
    "noise",
    "dispute",
    "safety_hazard",
    "emergency",
    "elder_care",
    "property_complaint",
)
EMERGENCY = "emergency"
PROPERTY_COMPLAINT = "property_complaint"

_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(d|h|m|天|小时|分钟|分)")
_UNIT_SECONDS = {"d": 86400, "天": 86400, "h": 3600, "小时": 3600, "m": 60, "分钟": 60, "分": 60}


def parse_duration(value: Any) -> timedelta:
    """ "30m", "4h", "3d", "1d12h" (or 天/小时/分钟), a number of seconds, or a timedelta."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    if isinstance(value, str):
        text = value.strip().lower().replace(" ", "")
        parts = _DURATION.findall(text)
        if parts and _DURATION.sub("", text) == "":
            return timedelta(seconds=sum(float(n) * _UNIT_SECONDS[unit] for n, unit in parts))
    raise ValueError(f"not a duration: {value!r} (write e.g. 30m, 4h, 3d)")


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("must be longer than zero")
    return value


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


def _parse_hours(value: Any) -> Any:
    if isinstance(value, str):
        start, sep, end = value.replace(" ", "").partition("-")
        if not sep:
            raise ValueError('working_hours: write "08:30-18:00"')
        return {"start": start, "end": end}
    return value


class WorkingHours(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    start: time = time(8, 30)
    end: time = time(18, 0)

    @model_validator(mode="after")
    def _ordered(self) -> WorkingHours:
        if self.start >= self.end:
            raise ValueError("working hours must start before they end")
        return self

    def contains(self, moment: datetime) -> bool:
        """Whether `moment` falls in working hours, in the community's local time."""
        clock_time = local(moment).time()
        return self.start <= clock_time < self.end


_ROLE_BY_LABEL = {role.label: role.value for role in Role}


def _roles(value: Any) -> Any:
    """Roles by their directory name (property) or their Chinese label (物业); one role or a list."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        return value
    return [_ROLE_BY_LABEL.get(item, item) if isinstance(item, str) else item for item in items]


Roles = Annotated[tuple[Role, ...], BeforeValidator(_roles)]


class IntentRule(BaseModel):
    """Routing and time limits of one request category.

    `owner`: the roles that may own the request, tried in order (the person nearest the building
    wins). `notify`: roles also @-tagged at intake (they follow up, e.g. the micro-grid leader on a
    repair owned by property). `ack`/`resolve`: time limits from creation (or escalation, or reopening)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    owner: Annotated[Roles, Field(min_length=1)]
    notify: Roles = ()
    ack: Duration
    resolve: Duration
    merge_window: Duration | None = None  # None: the policy's merge_window

    @model_validator(mode="after")
    def _limits(self) -> IntentRule:
        _positive(self.ack)
        _positive(self.resolve)
        if self.merge_window is not None:
            _positive(self.merge_window)
        return self


_P, _MGL, _GM, _GL, _S, _POL = (
    Role.PROPERTY,
    Role.MICRO_GRID_LEADER,
    Role.GRID_MEMBER,
    Role.GRID_LEADER,
    Role.STAFF,
    Role.POLICE,
)

# The intent table of DESIGN.md. "micro-grid leader, then property" reads: the micro-grid leader owns
# it (a word at the door settles most clutter); property is the fallback and the usual 转派 target.
DEFAULT_RULES: dict[str, dict[str, Any]] = {
    "repair": {"owner": [_P, _MGL, _GM], "notify": [_MGL], "ack": "24h", "resolve": "3d"},
    "sanitation": {"owner": [_P, _MGL, _GM], "notify": [_MGL], "ack": "24h", "resolve": "2d"},
    "thrown_objects": {"owner": [_MGL, _GM, _GL], "notify": [_POL], "ack": "12h", "resolve": "3d"},
    "corridor_clutter": {"owner": [_MGL, _GM, _P], "ack": "24h", "resolve": "3d"},
    "ebike": {"owner": [_MGL, _GM, _P], "ack": "24h", "resolve": "3d"},
    "noise": {"owner": [_MGL, _GM, _GL], "ack": "12h", "resolve": "2d"},
    "dispute": {"owner": [_MGL, _GM, _GL], "ack": "24h", "resolve": "7d"},
    "safety_hazard": {"owner": [_GL, _MGL, _S], "notify": [_P], "ack": "4h", "resolve": "2d"},
    "emergency": {
        "owner": [_MGL, _GM, _GL, _S],
        "ack": "10m",
        "resolve": "2h",
        "merge_window": "6h",
    },
    "elder_care": {"owner": [_MGL, _GM, _GL], "ack": "12h", "resolve": "2d"},
    "property_complaint": {"owner": [_S, _GL], "notify": [_MGL], "ack": "24h", "resolve": "5d"},
}


class RequestPolicy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    intents: dict[str, IntentRule]
    # The same problem raised again within this window is a +1 on the open request.
    merge_window: Duration = timedelta(days=7)
    # When this many residents have raised one request, the owner is @-tagged again.
    retag_threshold: int = Field(3, ge=2)
    # Non-urgent reminders and escalations wait for these hours (local time).
    working_hours: Annotated[WorkingHours, BeforeValidator(_parse_hours)] = WorkingHours()
    # A 办结 request with no answer to the 回访 for this many days closes as unconfirmed.
    followup_days: int = Field(3, ge=1, le=60)
    # Time limits for a non-emergency report flagged urgent (水管爆了, 急!).
    urgent_ack: Duration = timedelta(hours=1)
    urgent_resolve: Duration = timedelta(hours=24)
    # Where an overdue request owned by property or police goes first: the grid leader supervises.
    service_escalates_to: UnitKind = UnitKind.GRID

    @model_validator(mode="after")
    def _complete_and_sound(self) -> RequestPolicy:
        unknown = set(self.intents) - set(REQUEST_INTENTS)
        if unknown:
            raise ValueError(f"intents: unknown request intent(s) {sorted(unknown)}")
        missing = set(REQUEST_INTENTS) - set(self.intents)
        if missing:
            raise ValueError(f"intents: no rule for {sorted(missing)}")
        complaint = self.intents[PROPERTY_COMPLAINT]
        if Role.PROPERTY in complaint.owner or Role.PROPERTY in complaint.notify:
            raise ValueError("intents.property_complaint: a complaint about property never goes to property")
        if self.service_escalates_to in (UnitKind.BUILDING, UnitKind.MICRO_GRID):
            raise ValueError("service_escalates_to: must be grid, community or street")
        return self

    def rule(self, intent: str) -> IntentRule:
        return self.intents[intent]

    def limits(self, intent: str, *, urgent: bool) -> tuple[timedelta, timedelta]:
        """(acknowledge within, resolve within) for a new request of this intent."""
        rule = self.rule(intent)
        if urgent and intent != EMERGENCY:
            return min(rule.ack, self.urgent_ack), min(rule.resolve, self.urgent_resolve)
        return rule.ack, rule.resolve

    def merge_window_for(self, intent: str) -> timedelta:
        return self.rule(intent).merge_window or self.merge_window

    @classmethod
    def from_overrides(cls, overrides: Mapping[str, Any] | None) -> RequestPolicy:
        """The defaults with a community's overrides merged over them; raises ValueError if invalid."""
        data: dict[str, Any] = dict(overrides or {})
        rules = {name: dict(rule) for name, rule in DEFAULT_RULES.items()}
        for name, rule in (data.pop("intents", None) or {}).items():
            if not isinstance(rule, Mapping):
                raise ValueError(f"intents.{name}: expected a mapping")
            rules[name] = {**rules.get(name, {}), **rule}
        try:
            return cls.model_validate({**data, "intents": rules})
        except ValidationError as error:
            raise ValueError(_describe(error)) from None

    @classmethod
    def for_details(cls, details: Mapping[str, Any] | None) -> RequestPolicy:
        """The policy stored in a community unit's details; a broken one is logged and ignored."""
        overrides = (details or {}).get("policy")
        if overrides is not None and not isinstance(overrides, Mapping):
            log.error("community policy is not a mapping; using defaults")
            return DEFAULT_POLICY
        if not overrides:
            return DEFAULT_POLICY
        # Every report reads its community's policy: validate each distinct `policy:` block once.
        try:
            key = json.dumps(overrides, sort_keys=True, ensure_ascii=False)
        except (TypeError, ValueError):
            key = None  # not JSON (a directory stores JSON): validate it every time
        policy = _PARSED.get(key) if key is not None else None
        if policy is not None:
            return policy
        try:
            policy = cls.from_overrides(overrides)
        except ValueError as error:
            log.error("community policy is invalid; using defaults: %s", error)
            return DEFAULT_POLICY
        if key is not None:
            if len(_PARSED) >= _PARSED_MAX:
                _PARSED.clear()
            _PARSED[key] = policy
        return policy


# Valid policies by their `policy:` block as canonical JSON (RequestPolicy is frozen, so shareable).
_PARSED: dict[str, RequestPolicy] = {}
_PARSED_MAX = 256


def validate_policy(overrides: Mapping[str, Any] | None) -> None:
    """For the directory importer: raises ValueError naming the bad key of a `policy:` block."""
    RequestPolicy.from_overrides(overrides)


def _describe(error: ValidationError) -> str:
    problems = []
    for item in error.errors():
        message = str(item["msg"]).removeprefix("Value error, ")
        key = ".".join(str(part) for part in item["loc"])
        problems.append(f"{key}: {message}" if key else message)
    return "policy: " + "; ".join(problems)


DEFAULT_POLICY = RequestPolicy.from_overrides(None)
