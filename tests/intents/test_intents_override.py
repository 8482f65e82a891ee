"""The baseline emergency override (intents/override.py), the engine's third opinion: the file loader, the
scores against scikit-learn's, `--check`, and the hard cases of its use in `IntentEngine.classify` (asked
only about a long enough message the engine did not call an emergency and that is not resolved; since
held-out v31/v32 not held back by the emergency guards). The phrasings below were written for this test
and are in no corpus file, but for held-out v31's live wire (`V31_WIRE`), the emergency the guards lost."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from intents import Intent, IntentEngine, default_engine, normalize
from intents.binfile import pack
from intents.engine import OVERRIDE_MIN_CHARS
from intents.intent_model import content_chars
from intents.override import (
    DEFAULT_OVERRIDE_MODEL_PATH,
    FORMAT,
    OverrideModel,
    OverrideModelError,
    dump_bytes,
    load_override_model,
    parse_override_model,
)

needs_sklearn = pytest.mark.skipif(
    importlib.util.find_spec("sklearn") is None, reason="training needs scikit-learn (the bench extra)"
)

# Emergencies told only by their signs (no danger word the lexicon knows, and neither second opinion sure):
# the keywords and both second opinions leave them a ticket or chatter; the override catches them.
SIGNS_ONLY = [
    ("海上有几个学生划橡皮艇出去了 桨都掉了 一直往外漂 越来越小 人在上面挥衣服", Intent.CHITCHAT),
    ("江心有条小木船 划船的老汉桨断了 船越漂越远 都快看不见了 他在上头挥手喊", Intent.ELDER_CARE),
]
# Caught before the override since the v28/v33/v34 fold (the second opinions, retrained with families6,
# see it): still an emergency, now without the override's help.
CAUGHT_BEFORE_THE_OVERRIDE = ["俺看见海边有俩娃坐着充气垫子 被风刮出去老远了 越漂越远 在上面挥手"]
# The same scene supposed, seen on TV and laughed at, drilled, or heard of elsewhere: the override's top
# intent is still emergency, but its guards (those of the emergency second opinion) keep it out.
NOT_EVENTS = [
    "假如海边有俩学生划皮划艇 桨掉了 越漂越远 都快看不见了 人在上面挥手 咋办",
    "哈哈 电视上演俩学生划皮划艇 桨掉了 越漂越远 都快看不见了 人在上面挥手 笑死",
    "今天演练 假设海边有俩学生划皮划艇 桨掉了 越漂越远 都快看不见了 人在上面挥手",
    "听说隔壁小区有俩学生划皮划艇 桨掉了 越漂越远 都快看不见了 人在上面挥手",
]


def _tiny() -> OverrideModel:
    classes = tuple(Intent)
    weights = np.zeros((3, len(classes)), dtype=np.int16)
    e = classes.index(Intent.EMERGENCY)
    weights[0, e], weights[1, 0], weights[2, e] = 900, 400, -300
    bias = np.full(len(classes), -0.5)
    return OverrideModel(["火", "好", "火 "], np.array([3, 5, 1]), weights, bias, 10, classes=classes)


def _write(tmp_path: Path, content: bytes) -> Path:
    path = tmp_path / "override.bin.gz"
    path.write_bytes(dump_bytes(content))
    return path


def _content(meta: dict[str, Any] | None = None, **arrays: np.ndarray | None) -> bytes:
    """The tiny model's file content with some meta fields and arrays replaced (None: left out)."""
    model = _tiny()
    base_meta: dict[str, Any] = {
        "comment": "",
        "classes": [c.value for c in model.classes],
        "documents": 10,
        "max_n": 3,
        "scale": 1000,
        "grams": list(model.grams),
    }
    base: dict[str, np.ndarray | None] = {
        "bias": model.bias,
        "df": model.df.astype("<i4"),
        "weights": model.weights.astype("<i2"),
    }
    base.update(arrays)
    kept = {name: array for name, array in base.items() if array is not None}
    return pack(FORMAT, {**base_meta, **(meta or {})}, kept)


def test_shipped_model_loads() -> None:
    model = load_override_model()
    assert model.path == DEFAULT_OVERRIDE_MODEL_PATH
    assert set(model.classes) == set(Intent)
    assert model.weights.shape == (len(model.grams), len(Intent))
    assert all(1 <= len(g) <= model.max_n for g in model.grams)
    assert default_engine().override_model is not None
    assert DEFAULT_OVERRIDE_MODEL_PATH.stat().st_size < 3 * 2**20  # the file stays small


def test_scores_are_the_formula() -> None:
    """(1 + ln count) x idf per vocabulary n-gram, L2-normalised, times the weights, plus the bias."""
    model = _tiny()
    idf = [np.log(11 / 4) + 1, np.log(11 / 6) + 1]
    v = np.array([(1 + np.log(2)) * idf[0], idf[1]])  # 火 twice, 好 once; 火好 is no vocabulary n-gram
    expected = (v @ model.weights[:2].astype(float)) / 1000 / np.linalg.norm(v) + model.bias
    assert np.allclose(model.scores("火好火"), expected)
    assert model.emergency("火火") and not model.emergency("好好")
    assert model.scores("水") == model.bias.tolist()  # no vocabulary n-gram: the bias alone
    assert model.opinion("好", 3) is None
    p, evidence = model.opinion("火 好", 3) or (0.0, [])
    # Emergency first, so above a uniform 1/17; the evidence leaves out the n-gram with a space.
    assert 1 / 17 < p <= 1.0 and [(g, s) for g, s, _ in evidence] == [("火", 0)] and evidence[0][2] > 0


def test_found_counts_every_occurrence_of_every_vocabulary_ngram() -> None:
    """`found` gives what scikit-learn's char analyzer counts: every 1..max_n-gram at every position (spaces,
    digits, emoji and a lone surrogate included), rows ascending; a text key above the vocabulary's last
    key (an emoji's unigram) finds nothing."""
    model = load_override_model()
    index = {g: r for r, g in enumerate(model.grams)}
    texts = [
        "",
        "火",
        "火灾",
        "3单元 楼道灯坏了 坏了好几天了 坏了",
        "电梯卡在12楼 里面有人 快打119!! 😂😂 [微笑]",
        "\ud800孤立的代理项 和 \U0010fffd 灭火器",
    ]
    for text in texts:
        expected: dict[int, int] = {}
        for k in range(1, model.max_n + 1):
            for i in range(len(text) - k + 1):
                row = index.get(text[i : i + k])
                if row is not None:
                    expected[row] = expected.get(row, 0) + 1
        rows, counts = model.found(text)
        order = sorted(expected)
        assert rows.dtype == counts.dtype == np.int64
        assert rows.tolist() == order and counts.tolist() == [expected[r] for r in order]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (pack("other/2", {}, {}), "not an override model: not a loudong-override-tfidf-svm/2 file"),
        (b"format\tloudong-override-tfidf-svm/1\n", "not an override model"),
        (_content()[:-8], "array 'weights' truncated"),
        (_content({"documents": None}), "documents must be a positive integer"),
        (_content({"max_n": 9}), "max_n must be in 1..3"),
        (_content({"classes": ["ok", *[c.value for c in Intent][1:]]}), "'ok' is not a valid Intent"),
        (_content(df=np.array([3, 5], dtype="<i4")), "expected 3 document frequencies, got 2"),
        (_content(df=np.array([3, 5, 11], dtype="<i4")), "document frequencies must be in 1..documents"),
        (
            _content(weights=np.zeros((2, len(Intent)), dtype="<i2")),
            "expected 3 x 17 integer weights, got 2 x 17",
        ),
        (_content(weights=np.zeros((3, len(Intent)))), "integer weights"),
        (_content({"grams": ["火", "火", "火 "]}), "an n-gram twice"),
        (_content({"grams": ["火", "", "火 "]}), "non-empty strings"),
        (_content({"grams": ["火", "好好好好", "火 "]}), "an n-gram longer than max_n"),
        (_content(bias=np.array([np.inf] * len(Intent))), "bias must be 17 finite numbers"),
        (_content(weights=None), "no weights"),
    ],
)
def test_loader_names_the_file_and_the_fault(tmp_path: Path, content: bytes, message: str) -> None:
    path = _write(tmp_path, content)
    with pytest.raises(OverrideModelError) as excinfo:
        load_override_model(path)
    assert str(path) in str(excinfo.value)
    assert message in str(excinfo.value)


def test_missing_or_not_gzipped_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(OverrideModelError, match=r"nowhere\.gz"):
        load_override_model(tmp_path / "nowhere.gz")
    plain = tmp_path / "plain.gz"
    plain.write_bytes(_tiny().to_bytes())
    with pytest.raises(OverrideModelError, match=r"plain\.gz: cannot read"):
        load_override_model(plain)


def test_round_trip(tmp_path: Path) -> None:
    model = _tiny()
    path = _write(tmp_path, model.to_bytes("a header"))
    loaded = load_override_model(path)
    assert loaded.grams == model.grams and np.array_equal(loaded.weights, model.weights)
    assert np.array_equal(loaded.df, model.df) and np.allclose(loaded.bias, model.bias)
    assert loaded.to_bytes("a header") == model.to_bytes("a header")
    assert parse_override_model(model.to_bytes(), path).scores("火好") == model.scores("火好")


@needs_sklearn
def test_scores_agree_with_scikit_learn() -> None:
    """The shipped form scores as the pipeline it was built from (weights in thousandths)."""
    from intents import train_override

    texts = ["楼下着火了 快打119", "有人晕倒了 叫不醒", "电梯坏了 没人修", "楼道灯不亮了", "谢谢物业", "收到"]
    texts += [t + " 快" for t in texts]
    labels = [Intent.EMERGENCY] * 2 + [Intent.REPAIR] * 2 + [Intent.THANKS, Intent.ACK]
    labels *= 2
    model = train_override.train(texts, labels)
    pipe = train_override._pipeline(0).fit(texts, [str(x) for x in labels])
    probes = ["楼上冒烟了 快来人", "灯坏了", "谢谢", "今晚吃啥 好的好的好的", ""]
    exact = pipe.decision_function(probes)
    order = [list(pipe.classes_).index(c.value) for c in model.classes]
    for probe, row in zip(probes, exact, strict=True):
        assert np.allclose(model.scores(normalize(probe)), row[order], atol=2e-3)
        assert model.emergency(normalize(probe)) == (pipe.predict([probe])[0] == "emergency")


@needs_sklearn
def test_shipped_model_is_reproducible(capsys: pytest.CaptureFixture[str]) -> None:
    from intents import train_override

    assert train_override.main(["--check"]) == 0, capsys.readouterr().out


def test_check_fails_on_a_stale_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from intents import train_override

    monkeypatch.setattr(train_override, "build", lambda: b"a fresh model\n")  # no retrain
    stale = _write(tmp_path, b"a stale model\n")
    assert train_override.main(["--check", "--output", str(stale)]) == 1
    assert "differs" in capsys.readouterr().out
    assert train_override.main(["--check", "--output", str(tmp_path / "none.gz")]) == 1


@pytest.mark.parametrize("text", CAUGHT_BEFORE_THE_OVERRIDE)
def test_an_emergency_the_second_opinions_learnt_stays_caught(text: str) -> None:
    engine = default_engine()
    assert engine.classify_opinions(text).intent is Intent.EMERGENCY
    assert engine.classify(text).intent is Intent.EMERGENCY


@pytest.mark.parametrize(("text", "engine_intent"), SIGNS_ONLY)
def test_an_emergency_told_only_by_signs_is_caught(text: str, engine_intent: Intent) -> None:
    engine = default_engine()
    before = engine.classify_opinions(text)
    assert before.intent is engine_intent
    result = engine.classify(text)
    assert result.intent is Intent.EMERGENCY and result.urgent
    assert result.runner_up is engine_intent
    assert 0.5 < result.confidence <= 1.0
    # Honest: the engine's own keywords, then the override's n-grams as "model" hits, each at its place.
    assert result.keywords[: len(before.keywords)] == before.keywords
    added = result.keywords[len(before.keywords) :]
    assert 1 <= len(added) <= 3
    for hit in added:
        assert hit.role == "model" and hit.intent is Intent.EMERGENCY and hit.weight > 0
        assert result.text[hit.start : hit.end] == hit.word
    assert engine.model_made(result) is (engine_intent is Intent.CHITCHAT)


@pytest.mark.parametrize("text", NOT_EVENTS)
def test_the_emergency_guards_do_not_hold_the_override_back(text: str) -> None:
    # A hypothetical, a joke, a drill or hearsay the lexicon did not make an emergency is still asked
    # about: the guards cost blind emergencies (a cost above a false ticket's), so the override decides.
    engine = default_engine()
    assert engine.override_model is not None
    assert engine.override_model.emergency(normalize(text))  # the model alone would say emergency
    before = engine.classify_opinions(text)
    assert before.intent is not Intent.EMERGENCY and not before.resolved
    assert engine.emergency_guards(before.text, quiet=False, blank=False) is None  # a guard holds
    assert engine.override_applies(before)
    assert engine.classify(text).intent is Intent.EMERGENCY


V31_WIRE = "楼下积水里掉了一根电线 刚刚一只狗踩过去就倒了不动 还有学生要从那边过 快拦住"


def test_a_live_wire_that_felled_a_dog_is_an_emergency() -> None:
    # Held-out v31's one missed emergency: the benign guard read 狗 as a pet's mishap and held it back.
    engine = default_engine()
    before = engine.classify_opinions(V31_WIRE)
    assert before.intent is not Intent.EMERGENCY
    assert engine.override_applies(before)
    result = engine.classify(V31_WIRE)
    assert result.intent is Intent.EMERGENCY and result.urgent


RESOLVED = [
    "刚才楼下积水里掉了一根电线 一只狗踩过去倒了 供电所的人已经来断了电 线也收走了 现在没事了",
    "昨晚三楼那个老人突然倒在楼道里喘不上气 后来救护车拉走了 今早人已经醒了 没事了 谢谢大家关心",
]


@pytest.mark.parametrize("text", RESOLVED)
def test_a_resolved_message_is_never_asked(text: str) -> None:
    engine = default_engine()
    before = engine.classify_opinions(text)
    assert content_chars(normalize(text)) >= OVERRIDE_MIN_CHARS
    assert before.resolved and not engine.override_applies(before)
    assert engine.classify(text) == before


class _Spy:
    def __init__(self, model: OverrideModel) -> None:
        self.model = model
        self.asked: list[str] = []

    def opinion(self, norm: str, count: int) -> Any:
        self.asked.append(norm)
        return self.model.opinion(norm, count)


def test_a_short_message_is_never_scored() -> None:
    engine = IntentEngine.load()
    assert engine.override_model is not None
    spy = _Spy(engine.override_model)
    engine.override_model = spy  # type: ignore[assignment]
    short = ["今晚吃啥", "收到", "小区门口新开了家面馆 味道还行 就是有点贵 下次还去"]
    assert all(content_chars(normalize(t)) < OVERRIDE_MIN_CHARS for t in short)
    for text in short:
        engine.classify(text)
    assert spy.asked == []
    # An emergency already is never asked about either; a long enough message is.
    engine.classify("楼下着火了 浓烟往上窜 三楼还有人没出来 快打119 快来人啊 救命啊 有没有人")
    assert spy.asked == []
    long = "小区门口新开了家面馆 味道还行 就是有点贵 老板说下个月还要搞活动 到时候大家一起去尝尝"
    assert content_chars(normalize(long)) >= OVERRIDE_MIN_CHARS
    assert engine.classify(long).intent is not Intent.EMERGENCY
    assert spy.asked == [normalize(long)]


def test_without_the_override_the_engine_is_its_opinions_and_the_models_emergencies() -> None:
    engine = IntentEngine.load(override_model=None)
    text, before = SIGNS_ONLY[0]
    assert engine.classify_opinions(text).intent is before
    # The intent model alone puts emergency first too (`model_emergency`), the override aside.
    assert engine.classify(text).intent is Intent.EMERGENCY
    assert engine.classify(text) == engine.model_emergency(engine.classify_opinions(text))
