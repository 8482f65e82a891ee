"""The public data types of the intent engine: labels, roles, and the classification result."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Intent(StrEnum):
    """The 17 labels of the intent table in DESIGN.md; `chitchat` is everything else."""

    REPAIR = "repair"
    SANITATION = "sanitation"
    THROWN_OBJECTS = "thrown_objects"
    CORRIDOR_CLUTTER = "corridor_clutter"
    EBIKE = "ebike"
    NOISE = "noise"
    DISPUTE = "dispute"
    SAFETY_HAZARD = "safety_hazard"
    EMERGENCY = "emergency"
    ELDER_CARE = "elder_care"
    POLICY_QUERY = "policy_query"
    MICRO_WISH = "micro_wish"
    PROPOSAL = "proposal"
    PROPERTY_COMPLAINT = "property_complaint"
    THANKS = "thanks"
    ACK = "ack"
    CHITCHAT = "chitchat"


# Every intent the bot acts on with something a person must read or do: a request, an answer, a wish or
# a proposal. Policy queries, micro-wishes and proposals are included on purpose: a wrong one is as much
# noise in the group as a wrong repair ticket. Only thanks, ack and chitchat are "quiet" intents.
TICKET_INTENTS: frozenset[Intent] = frozenset(Intent) - {Intent.THANKS, Intent.ACK, Intent.CHITCHAT}

# Intents that never create anything; the false-ticket rate counts these classified as a ticket intent.
QUIET_INTENTS: frozenset[Intent] = frozenset({Intent.THANKS, Intent.ACK, Intent.CHITCHAT})


class Role(StrEnum):
    """What a keyword contributes. `object`: the thing (电梯, 楼道); `problem`: what is wrong (漏水, 不亮);
    `resolution`: it is fixed (修好了); `courtesy`: thanks and acknowledgments; `urgent`: act now (救命)."""

    OBJECT = "object"
    PROBLEM = "problem"
    RESOLUTION = "resolution"
    COURTESY = "courtesy"
    URGENT = "urgent"


class HitState(StrEnum):
    """How a keyword stands in its sentence after negation analysis."""

    ACTIVE = "active"  # counts: 电梯坏了
    NEGATED = "negated"  # 电梯没坏
    RESOLVED = "resolved"  # 不漏了 / 漏水已经修好了
    PENDING = "pending"  # a resolution word that is not there yet: 还没修好 / 什么时候修好


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


@dataclass(frozen=True, slots=True)
class KeywordHit:
    """One lexicon word found in the normalised text; `start`/`end` index `Classification.text`.
    Generic words (没人修, 修好了), which belong to no single intent, are reported under the intent they
    lent their weight to, or under the winning intent."""

    word: str
    start: int
    end: int
    intent: Intent
    role: str
    state: HitState = HitState.ACTIVE
    weight: float = 0.0


@dataclass(frozen=True, slots=True)
class Places:
    """Where the message says it happens, in canonical form: building "5号楼" (also for 5栋/5幢/5#),
    unit "3单元", floor "12楼" (also for 12层, "-1楼" for 负一楼, 4楼 inferred from room 402), room "402"."""

    building: str | None = None
    unit: str | None = None
    floor: str | None = None
    room: str | None = None


class Classification(_Frozen):
    """The result. A frozen pydantic model (`model_dump(mode="json")` gives plain JSON); `KeywordHit` and
    `Places` are frozen dataclasses, cheap to build on the hot path."""

    intent: Intent
    confidence: float = Field(ge=0.0, le=1.0)
    keywords: tuple[KeywordHit, ...] = ()
    runner_up: Intent | None = None
    urgent: bool = False
    negated: bool = False
    resolved: bool = False
    question: bool = False
    places: Places = Field(default_factory=Places)
    # The normalised text the keyword positions refer to.
    text: str = ""
    # Per-intent raw scores of the candidates, highest first (for debugging and tuning).
    scores: tuple[tuple[Intent, float], ...] = ()

    @property
    def is_ticket(self) -> bool:
        return self.intent in TICKET_INTENTS


_FIELDS_SET = frozenset(Classification.model_fields)
_new = object.__new__
_set = object.__setattr__


def _build_classification(values: dict[str, Any]) -> Classification:
    """A Classification from values the engine already guarantees valid, skipping validation (about 10 µs
    of the hot path): what `model_construct` does, minus its generality. Every field must be given;
    `test_trusted_construction_equals_validation` checks the result equals a validated instance."""
    obj = _new(Classification)
    _set(obj, "__dict__", values)
    _set(obj, "__pydantic_fields_set__", set(_FIELDS_SET))
    _set(obj, "__pydantic_extra__", None)
    _set(obj, "__pydantic_private__", None)
    return obj


_KW_FIELDS = ("word", "start", "end", "intent", "role", "state", "weight")
_KW_SETTERS = tuple(getattr(KeywordHit, name).__set__ for name in _KW_FIELDS)


def _keyword_hit(
    word: str, start: int, end: int, intent: Intent, role: str, state: HitState, weight: float
) -> KeywordHit:
    """A `KeywordHit` built through its slots, skipping the frozen dataclass's `__init__` (which sets each
    field through `object.__setattr__`): the same object, about a third cheaper on the hot path."""
    set_word, set_start, set_end, set_intent, set_role, set_state, set_weight = _KW_SETTERS
    obj = _new(KeywordHit)
    set_word(obj, word)
    set_start(obj, start)
    set_end(obj, end)
    set_intent(obj, intent)
    set_role(obj, role)
    set_state(obj, state)
    set_weight(obj, weight)
    return obj
