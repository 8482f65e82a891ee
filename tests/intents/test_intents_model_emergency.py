"""The intent model's own emergencies (`IntentEngine.model_emergency`): an emergency told by signs alone that
the stages before it read as something milder is raised when the intent model is near-certain of it; a story
of no event here and now, thanks, an acknowledgment, a short message or an emergency already never are.

The stage is fed the keyword path's result (`classify_keywords`), which reads these signs as a repair or
chatter: the engine's other stages have since learnt most such messages, so the keywords alone are what
leaves a message for this stage to catch."""

from __future__ import annotations

import pytest

from intents import Intent, IntentEngine, default_engine


@pytest.fixture(scope="module")
def engine() -> IntentEngine:
    return default_engine()


SIGNS = [
    ("一楼的水都漫到腰了 里屋还有个老太太出不来", Intent.CHITCHAT),
    ("车库里水淹到胸口了 有辆车里还坐着人 门打不开", Intent.REPAIR),
    ("地下室有个人抓着电线不撒手 浑身在抖", Intent.CHITCHAT),
]


@pytest.mark.parametrize(("text", "keywords_say"), SIGNS)
def test_an_emergency_the_keywords_miss_is_raised(
    engine: IntentEngine, text: str, keywords_say: Intent
) -> None:
    before = engine.classify_keywords(text)
    assert before.intent is keywords_say
    result = engine.model_emergency(before)
    assert result.intent is Intent.EMERGENCY and result.urgent
    assert result.confidence >= 0.95
    assert result.runner_up is keywords_say
    assert any(hit.role == "model" and hit.intent is Intent.EMERGENCY for hit in result.keywords)
    assert engine.classify(text).intent is Intent.EMERGENCY


@pytest.mark.parametrize(
    "text",
    [
        # The signs told as past, heard of, or drilled: no event here and now, whatever the model says.
        "上次车库里水淹到胸口了 有辆车里还坐着人 门打不开",
        "抖音上看的 一楼的水都漫到腰了 里屋还有个老太太出不来",
        "消防演练 假装地下室有个人抓着电线不撒手 浑身在抖",
    ],
)
def test_a_story_of_no_event_here_and_now_is_not_raised(engine: IntentEngine, text: str) -> None:
    before = engine.classify_keywords(text)
    assert before.intent is not Intent.EMERGENCY
    assert engine.told_as_unreal(before.text)
    assert engine.model_emergency(before) is before


def test_thanks_acks_and_short_messages_are_never_asked(engine: IntentEngine) -> None:
    thanks = engine.classify_keywords("谢谢大家昨晚帮忙把老太太从水里背出来")
    assert thanks.intent is Intent.THANKS
    assert engine.model_emergency(thanks) is thanks
    ack = engine.classify_keywords("收到 水淹到腰了的事我马上转给物业")
    assert ack.intent is Intent.ACK
    assert engine.model_emergency(ack) is ack
    short = engine.classify_keywords("人抽抽了")
    assert short.intent is not Intent.EMERGENCY
    assert engine.model_emergency(short) is short


def test_an_emergency_is_left_as_it_is(engine: IntentEngine) -> None:
    fire = engine.classify_keywords("5号楼18楼着火了 浓烟往外冒 快打119")
    assert fire.intent is Intent.EMERGENCY
    assert engine.model_emergency(fire) is fire


def test_without_the_intent_model_nothing_changes() -> None:
    engine = IntentEngine.load(intent_model=None)
    result = engine.classify_keywords(SIGNS[0][0])
    assert engine.model_emergency(result) is result
