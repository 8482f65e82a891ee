"""The emergency second opinion (intents/emergency.py): its file loader, the safety net it adds to the
keyword engine on emergencies phrased in words the lexicon has never seen, the look-alikes it must leave
alone, and determinism. The phrasings below were written for this test and are in no corpus file."""

from __future__ import annotations

from pathlib import Path

import pytest

from intents import Intent, IntentEngine, classify, default_engine, normalize
from intents.emergency import (
    DEFAULT_EMERGENCY_MODEL_PATH,
    EmergencyModel,
    EmergencyModelError,
    load_emergency_model,
    ngrams,
)
from intents.model import HitState

# Emergencies the keyword lexicon alone does not call emergencies (checked below), which the second
# opinion catches.
UNSEEN_EMERGENCIES = [
    "俺爸突然就瘫那了 嘴也歪了 话都说不清",
    "电梯卡半道了 里边有个小孩一直在哭",
    "老太太在楼道里趴着不动了 咋喊都不吭声",
    "孩子把硬币咽下去了卡嗓子眼 脸憋得通红",
    "小孩掉进化粪池了 快拉绳子",
    "水漫到插座那了 噼里啪啦冒火星子",
]

# The same danger as a hypothetical, past, hearsay, joke, drill or resolved event: never an emergency.
LOOK_ALIKES = [
    "万一楼梯间全是黑烟咋办",
    "昨天楼梯间全是黑烟 吓死了",
    "哈哈哈楼梯间全是黑烟 原来是有人在烤串",
    "下周消防演练 楼梯间会放黑烟",
    "万一电梯卡半道了 里边有小孩咋办",
    "上次电梯卡半道了 里边有个小孩一直在哭",
    "电梯卡半道那事已经解决了 小孩没事",
    "听说隔壁小区有小孩掉进化粪池了",
    "谢谢大家帮忙 楼梯间黑烟的事处理好了",
    "笑死 我家猫把硬币咽下去又吐出来了",
]


@pytest.fixture(scope="module")
def keywords_only() -> IntentEngine:
    return IntentEngine.load(emergency_model=None, intent_model=None)


def test_shipped_model_loads() -> None:
    model = load_emergency_model()
    assert model.path == DEFAULT_EMERGENCY_MODEL_PATH
    assert 0.5 <= model.threshold < 1.0
    assert 1000 <= len(model.weights) <= 5000
    assert all(" " not in g and 1 <= len(g) <= model.max_n for g in model.weights)
    assert default_engine().emergency_model is not None


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "not an emergency model"),
        (
            "format\tsomething-else/9\nbias\t-2\nthreshold\t0.9\nticket_threshold\t0.99\nmax_n\t3\n1.0\t火\n",
            "not an emergency model",
        ),
        (
            "format\tloudong-emergency-ngram/1\nbias\t-2\nthreshold\t0.9\nticket_threshold\t0.99\nmax_n\t3\n",
            "no weights",
        ),
        (
            "format\tloudong-emergency-ngram/1\nthreshold\t0.9\nticket_threshold\t0.99\nmax_n\t3\n1.0\t火\n",
            "header field",
        ),
        ("format\tloudong-emergency-ngram/1\nbias\t-2\nthreshold\t0.9\nmax_n\t3\n1.0\t火\n", "header field"),
        ("format\tloudong-emergency-ngram/1\nbias\t-2\nthreshold\t1.5\nmax_n\t3\n1.0\t火\n", "threshold"),
        (
            "format\tloudong-emergency-ngram/1\nbias\t-2\nthreshold\t0.9\nticket_threshold\t0.99\nmax_n\t3\nabc\t火\n",
            "bad weight",
        ),
        (
            "format\tloudong-emergency-ngram/1\nbias\t-2\nthreshold\t0.9\nticket_threshold\t0.99\nmax_n\t3\nnan\t火\n",
            "not finite",
        ),
        (
            "format\tloudong-emergency-ngram/1\nbias\t-2\nthreshold\t0.9\nticket_threshold\t0.99\nmax_n\t3\n1.0\t火\n2.0\t火\n",
            "twice",
        ),
        ("format loudong-emergency-ngram/1\n", "key<TAB>value"),
    ],
)
def test_bad_model_file_names_the_file(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "broken_model.txt"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(EmergencyModelError, match=message) as info:
        load_emergency_model(path)
    assert str(path) in str(info.value)
    with pytest.raises(EmergencyModelError, match=r"broken_model\.txt"):
        IntentEngine.load(emergency_model=path)


def test_missing_or_binary_model_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.txt"
    with pytest.raises(EmergencyModelError, match=r"nope\.txt"):
        load_emergency_model(missing)
    binary = tmp_path / "binary.txt"
    binary.write_bytes(b"\xff\xfe\x00\x81")
    with pytest.raises(EmergencyModelError, match=r"binary\.txt"):
        load_emergency_model(binary)


def test_model_round_trips(tmp_path: Path) -> None:
    model = EmergencyModel({"着火": 2.5, "救": 1.25, "谢谢": -3.0}, -1.5, 0.75)
    path = tmp_path / "m.txt"
    path.write_text(model.dumps("a header\nof two lines"), encoding="utf-8")
    again = load_emergency_model(path)
    assert again.weights == model.weights
    assert (again.bias, again.threshold, again.max_n) == (-1.5, 0.75, 3)
    assert again.score("着火了 救命") == pytest.approx(model.score("着火了 救命"))


def test_ngrams() -> None:
    assert ngrams("着火了") == {"着", "火", "了", "着火", "火了", "着火了"}
    # Digits fold to 0: a floor number or a phone number is no evidence.
    assert ngrams("12楼") == ngrams("98楼")


@pytest.mark.parametrize("text", UNSEEN_EMERGENCIES)
def test_second_opinion_catches_unseen_emergency(text: str, keywords_only: IntentEngine) -> None:
    before = keywords_only.classify(text)
    assert before.intent is not Intent.EMERGENCY, "the lexicon catches this now: pick another phrasing"
    result = classify(text)
    assert result.intent is Intent.EMERGENCY, result
    assert result.urgent
    assert result.runner_up is before.intent
    model_hits = [k for k in result.keywords if k.role == "model"]
    assert model_hits, "the second opinion must say why"
    for k in model_hits:
        assert k.intent is Intent.EMERGENCY and k.state is HitState.ACTIVE and k.weight > 0
        assert result.text[k.start : k.end].translate(str.maketrans("0123456789", "0" * 10)) == k.word
    # The keyword result's own hits are kept.
    assert set(before.keywords) <= set(result.keywords)
    assert result.confidence >= default_engine().emergency_model.threshold - 1e-4


@pytest.mark.parametrize("text", LOOK_ALIKES)
def test_second_opinion_leaves_look_alikes(text: str) -> None:
    result = classify(text)
    assert result.intent is not Intent.EMERGENCY, result
    assert not any(k.role == "model" for k in result.keywords)


def test_a_deliberate_ticket_needs_the_ticket_threshold() -> None:
    """A message the keywords made a ticket is overruled only above the (much higher) ticket threshold:
    a hazard stays a hazard (the families test of 电表箱…冒火花 says so). A gas smell the keywords call
    sanitation (a rotten-egg smell) stayed sanitation until families4 taught the model that smell: it is now
    above the ticket threshold."""
    model = default_engine().emergency_model
    assert model.ticket_threshold >= model.threshold
    assert classify("电表箱那块老是冒火花 吓人").intent is Intent.SAFETY_HAZARD
    gas = classify("地下室一股子臭鸡蛋味 越来越冲 头都发昏")
    assert gas.intent is Intent.EMERGENCY and gas.runner_up is Intent.SANITATION
    assert gas.confidence >= model.ticket_threshold
    assert classify("地下室的水管在往外喷水,快来人关阀门").intent is Intent.REPAIR


def test_second_opinion_never_overrides_keyword_emergency() -> None:
    result = classify("楼梯间全是黑烟 呛得睁不开眼")
    assert result.intent is Intent.EMERGENCY
    assert not any(k.role == "model" for k in result.keywords)


def test_without_model_the_engine_is_the_keyword_engine(keywords_only: IntentEngine) -> None:
    for text in UNSEEN_EMERGENCIES + LOOK_ALIKES + ["2单元楼道灯坏了好几天了", "谢谢", ""]:
        assert keywords_only.classify(text) == keywords_only.classify_keywords(text)
        assert default_engine().classify_keywords(text) == keywords_only.classify(text)


def test_classify_is_deterministic() -> None:
    texts = UNSEEN_EMERGENCIES + LOOK_ALIKES
    first = [classify(t) for t in texts]
    fresh = IntentEngine.load()
    for _ in range(3):
        assert [classify(t) for t in reversed(texts)] == first[::-1]
        assert [fresh.classify(t) for t in texts] == first
    # The score itself is a pure function of the text: a model loaded afresh scores alike.
    model, reloaded = default_engine().emergency_model, fresh.emergency_model
    assert model is not reloaded
    assert [model.score(t) for t in texts] == [reloaded.score(t) for t in texts]


def test_shipped_model_is_reproducible() -> None:
    """`python -m intents.train_emergency` rebuilds the shipped file byte for byte."""
    from intents import train_emergency

    assert train_emergency.main(["--check"]) == 0


def test_block_words_blanked_from_the_automaton_as_by_the_regex() -> None:
    # The hot path blanks block words from the lexicon automaton's matches (`_blank_blocks`); the training
    # scripts use the regex (`second_opinion_text`): the same text, overlapping and nested words included.
    import random

    from intents.engine import _blank_blocks
    from intents.evaluate import read_corpus

    engine = default_engine()
    texts = [
        ex.text for ex in read_corpus(Path(__file__).resolve().parents[1] / "data" / "intents_tuning.jsonl")
    ]
    blocks = sorted(engine.lexicon.block)
    rng = random.Random(20261128)
    for _ in range(3000):
        words = [rng.choice(blocks) for _ in range(rng.randint(1, 4))]
        texts.append("".join(w[rng.randint(0, len(w) - 1) :] if rng.random() < 0.3 else w for w in words))
    for text in texts:
        norm = normalize(text)
        assert _blank_blocks(norm, list(engine._automaton.iter(norm))) == engine.second_opinion_text(norm), (
            text
        )


# ------------------------------------------------------------------ after held-out v13 (tests/data/README.md)


@pytest.mark.parametrize(
    ("text", "denied"),
    [
        ("是我在熬中药 不是哪家漏气", True),
        ("不是谁家着火 是烧秸秆", True),
        ("莫担心哈 是我家在熏腊肉", True),
        ("是不是哪家漏气了", False),
        ("哪家漏气了 好大的味", False),
    ],
)
def test_a_danger_denied_with_whose_between(text: str, denied: bool) -> None:
    """`denied_whose` may stand between 不是 and the danger; 莫担心 reassures as 别担心 does."""
    markers = IntentEngine.load()._markers
    assert (markers.denial.search(normalize(text)) is not None) is denied


def test_thanks_then_a_contrast_keeps_the_keywords() -> None:
    """A keyword ticket with a contrast after its thanks word is not put to the intent model."""
    engine = IntentEngine.load()
    for text in ("谢谢物业,不过楼道灯又坏了", "谢谢师傅 但是楼道灯又坏了"):
        result = engine.classify_emergency(text)
        assert result.intent is Intent.REPAIR
        assert not engine.intent_model_applies(result)


def test_model_made_emergency_is_recognised() -> None:
    """`model_made`: the emergency model's emergency of a keyword chitchat, not a keyword emergency."""
    engine = IntentEngine.load()
    assert not engine.model_made(engine.classify_emergency("楼下着火了 快打119"))


def test_breathless_with_lai_is_an_emergency_and_stuffy_is_not() -> None:
    """喘不过来, 喘不上来 are emergency words as 喘不过气 is; 闷得喘不过来 is a block word."""
    assert classify("我爸哮喘犯了 喘不过来 药找不到了 3单元").intent is Intent.EMERGENCY
    assert classify("电梯里通风扇不转了,里面闷得喘不过来").intent is Intent.REPAIR
