"""The intent second opinion (intents/intent_model.py) and its combination rule in the engine
(`IntentEngine.intent_model_applies`, `intent_opinion`): the file loader, the scores, and the hard cases
of the rule. The phrasings below were written for this test and are in no corpus file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from intents import Intent, IntentEngine, classify, default_engine
from intents.binfile import pack
from intents.engine import intent_opinion, objects_only
from intents.intent_model import (
    DEFAULT_INTENT_MODEL_PATH,
    FORMAT,
    IntentModel,
    IntentModelError,
    features,
    load_intent_model,
)
from intents.model import QUIET_INTENTS, TICKET_INTENTS, HitState
from intents.train_intents import _Thresholds

CLASSES = [i.value for i in Intent]
META = {
    "comment": "",
    "classes": CLASSES,
    "max_n": 3,
    "propose": 0.5,
    "veto": 0.9,
    "switch": 0.6,
    "quiet": 0.9,
    "emergency_veto": 0.9,
    "scale": 1000,
    "grams": ["火"],
}
ZEROS = np.zeros((1, len(Intent)), dtype="<i2")
TWO = np.zeros((2, len(Intent)), dtype="<i2")
BIAS = np.zeros(len(Intent), dtype="<i2")


def _file(meta: dict[str, Any] | None = None, **arrays: np.ndarray) -> bytes:
    return pack(FORMAT, {**META, **(meta or {})}, {"weights": ZEROS, "bias": BIAS, **arrays})


@pytest.fixture(scope="module")
def without_opinion() -> IntentEngine:
    return IntentEngine.load(intent_model=None)


def test_shipped_model_loads() -> None:
    model = load_intent_model()
    assert model.path == DEFAULT_INTENT_MODEL_PATH
    assert model.classes == tuple(Intent)
    assert model.weights.shape == (len(model.grams), len(Intent))
    assert all(" " not in g and "0" not in g and 1 <= len(g) <= model.max_n for g in model.grams)
    assert 0.6 <= model.emergency_veto <= 1.0 and 0.8 <= model.veto <= 1.0
    assert default_engine().intent_model is not None


def test_probabilities_are_a_distribution() -> None:
    model = load_intent_model()
    for text in ("", "好的", "5号楼2单元楼道灯坏了好几天了", "今晚吃啥"):
        p = model.probabilities(text)
        assert len(p) == len(Intent)
        assert abs(sum(p) - 1.0) < 1e-9 and min(p) >= 0


def test_features_fold_digits_and_drop_spaces() -> None:
    assert features("3楼 灯") == {"楼", "灯"}
    assert "灯坏" in features("灯坏了")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "not an intent model: not a loudong-intent-ngram/2 file"),
        (b"format\tloudong-intent-ngram/1\n", "not an intent model: not a loudong-intent-ngram/2 file"),
        (pack("other/2", META, {}), "not a loudong-intent-ngram/2 file (format 'other/2')"),
        (_file()[:-10], "array 'bias' truncated"),
        (_file({"grams": []}, weights=np.zeros((0, len(Intent)), dtype="<i2")), "no weights"),
        (_file({"propose": None}), "header field"),
        (_file({"max_n": "3"}), "header field"),
        (_file({"veto": 1.5}), "thresholds"),
        (_file({"classes": [c.replace("ack", "ok") for c in CLASSES]}), "classes"),
        (_file({"classes": CLASSES[:-1]}), "classes must name each intent once"),
        (_file({"grams": ["火", "火"]}, weights=TWO), "n-gram '火' twice"),
        (_file({"grams": ["火", ""]}, weights=TWO), "non-empty strings"),
        (_file(weights=np.zeros((1, 3), dtype="<i2")), "expected 1 x 17 weights, got 1 x 3"),
        (_file({"grams": ["火", "水"]}), "expected 2 x 17 weights, got 1 x 17"),
        (_file(weights=np.zeros((1, len(Intent)))), "weights and bias must be integers"),
        (_file(bias=np.zeros(3, dtype="<i2")), "expected 17 bias values, got 3"),
        (pack(FORMAT, META, {"weights": ZEROS}), "missing weights or bias"),
    ],
)
def test_loader_names_the_file_and_the_fault(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "model.bin"
    path.write_bytes(content)
    with pytest.raises(IntentModelError) as excinfo:
        load_intent_model(path)
    assert str(path) in str(excinfo.value)
    assert message in str(excinfo.value)


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(IntentModelError, match=r"nowhere\.txt"):
        load_intent_model(tmp_path / "nowhere.txt")


def test_dumps_loads_round_trip(tmp_path: Path) -> None:
    weights = np.zeros((2, len(Intent)))
    weights[0, 0], weights[1, 16] = 1.25, -0.5
    model = IntentModel(["漏水", "哈"], weights, np.full(len(Intent), 0.1), propose=0.7)
    path = tmp_path / "m.bin"
    path.write_bytes(model.to_bytes("a header\nof two lines"))
    loaded = load_intent_model(path)
    assert loaded.grams == ["漏水", "哈"] and loaded.propose == 0.7
    assert np.array_equal(loaded.weights, weights) and np.allclose(loaded.bias, 0.1)
    assert loaded.to_bytes("a header\nof two lines") == path.read_bytes()


def test_weights_read_back_as_the_decimals_the_text_form_wrote(tmp_path: Path) -> None:
    """Stored in thousandths, a weight reads back as exactly the float of its three-decimal text (the
    text form's value), for every thousandth in range, large weights in 32 bits."""
    q = np.arange(-40000, 40001)
    values = np.array([float(f"{v / 1000:.3f}") for v in q.tolist()])
    weights = np.zeros((len(q), len(Intent)))
    weights[:, 3] = values
    model = IntentModel([f"g{i}" for i in range(len(q))], weights, np.zeros(len(Intent)))
    path = tmp_path / "m.bin"
    path.write_bytes(model.to_bytes())
    loaded = load_intent_model(path)
    assert loaded.weights[:, 3].tolist() == values.tolist()


def test_evidence_ranks_by_margin_over_the_other_intents() -> None:
    """`evidence` ranks by each weight minus the largest other weight of its row, precomputed at load."""
    shipped = load_intent_model()
    weights = shipped.weights
    for column in (0, 8, 16):
        others = np.delete(weights, column, axis=1).max(axis=1)
        assert np.array_equal(shipped._margins[:, column], weights[:, column] - others)


def test_evidence_is_the_ranking_of_the_rows_given() -> None:
    """`evidence` (each row's place in a ranking computed once per column) gives what ranking the rows of the
    text themselves gives: n-grams of two or three characters before single ones, the larger margin first,
    then string order; rows of no positive margin left out."""
    model = load_intent_model()
    weights, margins, grams = model.weights, model._margins, model.grams
    texts = [
        "3单元楼道灯坏了好几天了 物业也没人来修",
        "谢谢王师傅 电梯修好了",
        "楼上装修 天天电钻 吵得孩子没法睡觉",
        "好",
    ]
    for text in texts:
        rows = model.rows(text)
        for intent in Intent:
            column = model.index[intent]
            ranked = sorted(
                (len(grams[r]) < 2, -margins[r, column], grams[r], float(weights[r, column]))
                for r in rows
                if margins[r, column] > 0
            )
            expected = [(g, w) for _, _, g, w in ranked[:3]]
            assert model.evidence(text, intent, 3, rows) == expected
            assert model.evidence(text, intent, 3) == expected


def test_ranked_ahead_the_evidence_is_the_same() -> None:
    """`rank_columns` (run by `IntentEngine.warm`'s thread) builds every column's ranking before any message
    needs one; `evidence` then gives what the rankings built on first use give."""
    ahead, lazy = load_intent_model(), load_intent_model()
    ahead.rank_columns()
    assert sorted(ahead._rankings) == list(range(len(Intent)))
    text = "3单元楼道灯坏了好几天了 物业也没人来修 晚上黑乎乎的"
    for intent in Intent:
        assert ahead.evidence(text, intent, 5) == lazy.evidence(text, intent, 5)


def _model(propose: float = 0.5, veto: float = 0.9, switch: float = 0.6, quiet: float = 0.9) -> IntentModel:
    return IntentModel(
        ["x"], np.zeros((1, len(Intent))), np.zeros(len(Intent)), propose=propose, veto=veto, switch=switch,
        quiet=quiet, emergency_veto=0.9,
    )  # fmt: skip


def _p(**mass: float) -> np.ndarray:
    """A distribution with the given mass on some intents and the rest spread evenly."""
    p = np.full(len(Intent), (1.0 - sum(mass.values())) / (len(Intent) - len(mass)))
    for name, value in mass.items():
        p[list(Intent).index(Intent(name))] = value
    return p


def test_rule_proposes_vetoes_and_switches() -> None:
    model = _model()
    assert intent_opinion(Intent.CHITCHAT, _p(repair=0.6), model) == (Intent.REPAIR, 0.6)
    assert intent_opinion(Intent.CHITCHAT, _p(repair=0.4), model) is None
    # The model never proposes an emergency: that is the emergency second opinion's, with its guards.
    assert intent_opinion(Intent.CHITCHAT, _p(emergency=0.9), model) is None
    vetoed = intent_opinion(Intent.REPAIR, _p(chitchat=0.8, thanks=0.15), model)
    assert vetoed is not None and vetoed[0] is Intent.CHITCHAT and vetoed[1] > 0.9
    assert intent_opinion(Intent.REPAIR, _p(chitchat=0.85), model) is None
    assert intent_opinion(Intent.REPAIR, _p(noise=0.7), model) == (Intent.NOISE, 0.7)
    assert intent_opinion(Intent.REPAIR, _p(emergency=0.9), model) is None
    assert intent_opinion(Intent.CHITCHAT, _p(ack=0.95), model) == (Intent.ACK, 0.95)
    assert intent_opinion(Intent.THANKS, _p(ack=0.95), model) is None


def test_thanks_and_acks_are_not_asked() -> None:
    engine = default_engine()
    for text in ("谢谢王师傅 电梯修好了", "收到 按时参加"):
        result = engine.classify_emergency(text)
        assert result.intent in (Intent.THANKS, Intent.ACK)
        assert not engine.intent_model_applies(result)


# Emergency words in jokes: taken out by the lexicon (laughter or a video/news/elsewhere cue in the message
# negates them; until the rule that no model overrules a keyword emergency, the intent model demoted
# them when sure of chatter).
JOKES = [
    "救命哈哈哈 我家狗把沙发啃了个洞",
    "笑死 我儿子说他写作业写到晕倒了",
]
# Real emergencies, some of them short and with little for the model to read: never demoted.
EMERGENCIES = [
    "这不是演练,真着火了",
    "孩子写作业的时候突然晕倒了 快打120",
    "这不是视频里的 真着火了 3楼",
    "昨天就闻到煤气味 今天更大了 快来人",
    "救命 3楼着火了",
    "火!!!!302厨房着了",
    "有人晕倒了 快打120",
]


@pytest.mark.parametrize("text", JOKES)
def test_a_joke_with_an_emergency_word_stays_chatter(text: str, without_opinion: IntentEngine) -> None:
    keywords = without_opinion.classify(text)
    assert keywords.intent in QUIET_INTENTS and keywords.negated
    assert any(k.intent is Intent.EMERGENCY and k.state is HitState.NEGATED for k in keywords.keywords)
    result = classify(text)
    assert result.intent in QUIET_INTENTS
    assert not result.urgent


@pytest.mark.parametrize("text", EMERGENCIES)
def test_an_emergency_is_never_suppressed(text: str) -> None:
    result = classify(text)
    assert result.intent is Intent.EMERGENCY and result.urgent
    assert not default_engine().intent_model_applies(result)


# Repairs and other tickets in words the lexicon does not know: the keywords leave them as chitchat,
# the model proposes the ticket, and reports its evidence with role "model". (楼顶的防水层起鼓了 一下雨就渗,
# here until the v6 retrain, has only an object word, 楼顶: the model's 0.37 is under the objects-only bar.
# 地下车库的排水沟堵了 一下雨就积水, here until the SVM, gets P(repair) 0.76 from it, under the proposal
# threshold of 0.8 the CV chose: a missed minor ticket costs less than a false one.)
UNSEEN_TICKETS = [
    ("地下车库的排水沟堵了 一下雨就积水 麻烦物业来通一下", Intent.REPAIR),
    ("地库的排风扇一直不转 憋得慌", Intent.REPAIR),
]


def test_objects_alone_need_a_surer_model() -> None:
    """A message whose keywords are objects only (楼上, 装修) is proposed as a ticket only at P >= 0.5, even
    where the proposal threshold is lower."""
    text = "楼上那家在装修"
    keywords = default_engine().classify_emergency(text)
    assert objects_only(keywords)
    # The retrained model itself is sure of noise here (0.85 since held-out v19's 在装修 noise tickets were
    # folded in; tests/intents/test_intents_hard_cases.py), so the bar is tested on set probabilities below.
    assert keywords.intent is Intent.CHITCHAT
    rule = _Thresholds(propose=0.2, veto=0.8, switch=0.4, quiet=1.0, emergency_veto=0.6)
    probabilities = [0.0] * len(Intent)
    probabilities[list(Intent).index(Intent.NOISE)] = 0.4
    probabilities[list(Intent).index(Intent.CHITCHAT)] = 0.35
    probabilities[list(Intent).index(Intent.REPAIR)] = 0.25
    assert intent_opinion(Intent.CHITCHAT, probabilities, rule) == (Intent.NOISE, 0.4)  # type: ignore[arg-type]
    assert intent_opinion(Intent.CHITCHAT, probabilities, rule, objects_only=True) is None  # type: ignore[arg-type]


@pytest.mark.parametrize(("text", "expected"), UNSEEN_TICKETS)
def test_an_unseen_phrasing_is_caught_by_the_model(
    text: str, expected: Intent, without_opinion: IntentEngine
) -> None:
    assert without_opinion.classify(text).intent is not expected
    result = classify(text)
    assert result.intent is expected
    model_hits = [k for k in result.keywords if k.role == "model"]
    assert model_hits and all(k.intent is expected for k in model_hits)
    assert all(result.text[k.start : k.end] == k.word for k in model_hits)
    assert result.runner_up is without_opinion.classify(text).intent


@pytest.mark.parametrize("text", ["楼道里没有漏水", "电梯早就修好了", "楼上水管不漏了"])
def test_a_negated_or_resolved_problem_is_not_proposed(text: str) -> None:
    assert classify(text).intent not in TICKET_INTENTS


def test_a_short_message_with_no_lexicon_word_never_asks_the_model(without_opinion: IntentEngine) -> None:
    # The fast path: a short message with no lexicon word is chitchat without the model being asked.
    for text in ("今晚吃啥", "哈哈哈", "周末去爬山吗", "嗯嗯 明儿见"):
        result = without_opinion.classify(text)
        assert not result.keywords
        assert not default_engine().intent_model_applies(result)


def test_a_longer_message_with_no_lexicon_word_asks_the_model(without_opinion: IntentEngine) -> None:
    # Words enough to describe a problem (18 characters that carry words, 20 until held-out v17): the model
    # may propose a ticket the lexicon has no word for, or stay quiet. Shorter no-hit chatter stays on the
    # fast path.
    for text in (
        "周末天气不错 约几个老同学一块去西山爬山吧 有想去的吗",
        "后院那一溜破家具堆得跟小山似的 也不知道是哪家的东西",
        "一楼信报箱的锁烂了 门关不埋 信件成日不见",  # 19 (held-out v17: a repair)
    ):
        result = without_opinion.classify(text)
        assert not result.keywords and result.runner_up is None
        assert default_engine().intent_model_applies(result)
    assert classify("周末天气不错 约几个老同学一块去西山爬山吧 有想去的吗").intent is Intent.CHITCHAT
    for text in ("周末天气不错 一起去爬山吧 有人去吗", "今晚吃啥 有推荐的没"):
        result = without_opinion.classify(text)
        assert not result.keywords and result.runner_up is None
        assert not default_engine().intent_model_applies(result)


def test_classification_stays_valid_json() -> None:
    for text in JOKES + [t for t, _ in UNSEEN_TICKETS]:
        result = classify(text)
        dumped = result.model_dump(mode="json")
        assert type(result).model_validate(dumped) == result


@pytest.mark.parametrize(
    "text",
    [
        "2单元402漏水了,急,我电话13812345678,身份证110101199003071234",
        "7号楼3单元电梯又坏了 联系我13900001111 身份证410105198801011234",
    ],
)
def test_a_report_with_phone_and_id_numbers_stays_a_report(text: str) -> None:
    # Digits make no n-gram of the model: they must not dilute the words (with each n-gram worth
    # 1/sqrt(len), the first read as chatter at 0.93 and was vetoed).
    assert classify(text).intent in TICKET_INTENTS


# After held-out v12: a message with no lexicon word and no danger sign is an emergency when both second
# opinions see one (`IntentEngine.emergency_agreed`); the intent model alone does not make one.
def test_a_keyword_less_emergency_is_caught_when_both_models_agree(without_opinion: IntentEngine) -> None:
    text = "小区池塘里有个娃娃趴在水面上一动不动 我不会游泳 谁快过来"
    assert without_opinion.classify(text).intent is Intent.CHITCHAT
    result = classify(text)
    assert result.intent is Intent.EMERGENCY and result.urgent
    assert result.runner_up is Intent.CHITCHAT
    assert any(k.role == "model" for k in result.keywords)


# After held-out v12 these keyword emergencies, which the emergency model scored under its threshold, were
# put to the intent model, which vetoed them (`_disbelieved`, removed with the rule that no model
# overrules a keyword emergency): the lexicon now tells them itself, an ambulance on a planned errand (the
# `drill` cues 提前约, 别多想) and a false alarm owned (the resolution 吓着大家).
TOLD_AS_NO_EVENT = [
    "刚那辆120是来接楼上孕妇去待产的 提前约的 人好好的 大家别多想",
    "那会儿喊救命的是我家电视 声音开太大了 不好意思 吓着大家了",
]


@pytest.mark.parametrize("text", TOLD_AS_NO_EVENT)
def test_a_keyword_emergency_told_as_no_event_is_chatter(text: str, without_opinion: IntentEngine) -> None:
    assert without_opinion.classify(text).intent in QUIET_INTENTS
    result = classify(text)
    assert result.intent in QUIET_INTENTS and not result.urgent


# The rule: "`emergency` words are never suppressed". A keyword emergency the lexicon leaves standing
# is never put to the intent model, whatever it would say (held-out v17's drying poles on fire were vetoed at
# P(chatter) 0.93; the other two were vetoed by the models retrained on v17).
KEYWORD_EMERGENCIES_THE_MODEL_DOUBTED = [
    "对面天台晾衫的竹竿着了 火已经烧到旁边铁皮屋 风又大",
    "上次电梯困人还没说法,今天又有人困在电梯里了",
    "昨天就闻到煤气味 今天更大了 快来人",
]


@pytest.mark.parametrize("text", KEYWORD_EMERGENCIES_THE_MODEL_DOUBTED)
def test_a_keyword_emergency_is_never_put_to_the_intent_model(
    text: str, without_opinion: IntentEngine
) -> None:
    keywords = without_opinion.classify(text)
    assert keywords.intent is Intent.EMERGENCY
    assert not default_engine().intent_model_applies(keywords)
    result = classify(text)
    assert result.intent is Intent.EMERGENCY and result.urgent
