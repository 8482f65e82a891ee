"""The hard cases of issue 3, one by one: negation and state, blocked words, word boundaries, questions,
emergencies, silence over noise, and the shape of the result."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from intents import TICKET_INTENTS, Classification, HitState, Intent, IntentEngine, classify, default_engine


def _intent(text: str) -> Intent:
    return classify(text).intent


# ---------------------------------------------------------------------------------- negation and state


@pytest.mark.parametrize(
    "text",
    ["电梯没有坏", "电梯没坏,是有人按住了门", "楼道里没有漏水", "楼上也没怎么吵"],
)
def test_negated_problem_is_not_a_ticket(text: str) -> None:
    result = classify(text)
    assert result.intent is Intent.CHITCHAT
    assert result.negated
    assert not result.urgent


@pytest.mark.parametrize(
    "text",
    [
        "楼上水管不漏了",
        "已经不漏水了",
        "楼道灯已经修好了",
        "楼上不吵了",
        "2单元的电梯修好了",
        "水已经来了,来水了",
    ],
)
def test_resolved_problem_is_not_a_new_ticket(text: str) -> None:
    result = classify(text)
    assert result.intent not in TICKET_INTENTS
    assert result.resolved
    assert not result.negated or result.resolved


def test_resolved_keeps_the_candidate_as_runner_up() -> None:
    result = classify("楼道灯已经修好了")
    assert result.intent is Intent.CHITCHAT
    assert result.runner_up is Intent.REPAIR


@pytest.mark.parametrize(
    "text",
    [
        "电梯还没修好",
        "电梯还没修好啊?都三天了",
        "楼道灯一直没人修",
        "报修了一个礼拜,楼道灯还是没修好",
        "楼道灯什么时候能修好",
    ],
)
def test_still_not_fixed_is_a_complaint(text: str) -> None:
    result = classify(text)
    assert result.intent is Intent.REPAIR
    assert not result.resolved


@pytest.mark.parametrize(
    ("text", "word"),
    [
        ("3单元楼道灯不亮", "不亮"),
        ("单元门关不上", "关不上"),
        ("我们楼没水了", "没水"),
        ("门禁刷不开", "刷不开"),
    ],
)
def test_negation_that_is_the_problem(text: str, word: str) -> None:
    result = classify(text)
    assert result.intent is Intent.REPAIR
    assert not result.negated
    assert any(k.word == word and k.state is HitState.ACTIVE for k in result.keywords)


def test_problem_after_a_resolution_is_a_new_problem() -> None:
    result = classify("电梯上午修好了,下午3单元的楼道灯又坏了")
    assert result.intent is Intent.REPAIR


def test_prohibitive_bie_is_not_a_negation() -> None:
    # 别再堆了 asks people to stop: the clutter is real.
    assert _intent("楼道里别再堆杂物了,老人下楼不方便") is Intent.CORRIDOR_CLUTTER


def test_hedge_does_not_hide_an_emergency() -> None:
    assert _intent("可能是燃气泄漏了,味道很大") is Intent.EMERGENCY


def test_hypothetical_is_not_an_emergency() -> None:
    assert _intent("楼道里堆的杂物太多了,万一着火跑都跑不出去") is Intent.CORRIDOR_CLUTTER


# ---------------------------------------------------------------------------------- questions


@pytest.mark.parametrize("text", ["电梯是不是坏了?", "是不是停水了", "楼道灯是不是又坏了"])
def test_question_still_reports_a_problem(text: str) -> None:
    result = classify(text)
    assert result.intent is Intent.REPAIR
    assert result.question
    assert not result.negated


def test_policy_question() -> None:
    result = classify("请问退休认证在哪里办,需要带什么")
    assert result.intent is Intent.POLICY_QUERY
    assert result.question


def test_question_across_a_comma() -> None:
    assert _intent("社保断了几个月,还能补交吗") is Intent.POLICY_QUERY


# ---------------------------------------------------------------------------------- blocked words


@pytest.mark.parametrize(
    "text",
    [
        "门口挂了两个灯笼,真喜庆",
        "我家热水器坏了,谁有靠谱师傅的电话",
        "这个月水电费在哪交",
        "电梯广告天天换,都是卖房子的",
        "晚上一起吃火锅吗",
        "明天上午消防演练,听到警报别慌",
        "谢谢关心,我们挺好的",
    ],
)
def test_blocked_words_do_not_match(text: str) -> None:
    assert _intent(text) not in TICKET_INTENTS


# ---------------------------------------------------------------------------------- word boundaries


def test_jieba_vetoes_a_keyword_across_a_word_boundary() -> None:
    # 停电 inside 停|电动车 is not a power cut.
    result = classify("停电动车的地方在哪")
    assert result.intent is not Intent.REPAIR
    assert all(k.word != "停电" for k in result.keywords)


def test_latin_keyword_needs_latin_boundaries() -> None:
    assert _intent("ok") is Intent.ACK
    # No keyword inside a Latin word (the intent second opinion, asked about a message of 8 characters
    # without a keyword, reads its own n-grams: it is not what this tests).
    assert not default_engine().classify_keywords("看看这本book").keywords


def test_keyword_positions_index_the_normalised_text() -> None:
    result = classify("@物业王师傅\u2005５号楼电梯坏了")
    assert result.text.startswith("5号楼电梯")
    for hit in result.keywords:
        assert result.text[hit.start : hit.end] == hit.word


def test_object_alone_never_makes_a_ticket() -> None:
    # The keywords never make a ticket of objects alone. Since held-out v19 was folded in (two of its noise
    # tickets are 在装修 … 切瓷砖 / 开电转), the intent model proposes noise for this message at 0.85, over
    # the objects-only bar (engine._OBJECTS_ONLY_PROPOSE); raising that bar to 0.8-0.9 was measured (LOAO
    # CV, all twenty folds) and cost macro-F1 0.966 -> 0.965-0.962 for one false ticket fewer: it stayed.
    result = default_engine().classify_keywords("楼上那家在装修")
    assert result.intent is Intent.CHITCHAT


# ---------------------------------------------------------------------------------- emergencies


@pytest.mark.parametrize(
    "text",
    [
        "着火了!6楼有人家里冒黑烟",
        "有人困在电梯里了",
        "楼道里好大的煤气味",
        "楼下有个老人晕倒了",
        "救命",
        "电梯困人了,谢谢大家快来帮忙",
        "收到,楼下着火了",
    ],
)
def test_emergencies_are_never_suppressed(text: str) -> None:
    result = classify(text)
    assert result.intent is Intent.EMERGENCY
    assert result.urgent
    assert result.confidence >= 0.5


def test_not_a_fire() -> None:
    result = classify("不是着火,是楼下在烧烤")
    assert result.intent is not Intent.EMERGENCY
    assert result.negated


# ---------------------------------------------------------------------------------- courtesy


def test_ack_and_thanks() -> None:
    assert _intent("收到") is Intent.ACK
    assert _intent("收到,谢谢") is Intent.ACK
    assert _intent("谢谢王师傅,电梯修好了👍") is Intent.THANKS
    assert _intent("没收到通知") is not Intent.ACK
    assert _intent("不谢不谢") is Intent.CHITCHAT


def test_thanks_then_a_new_problem_is_the_problem() -> None:
    assert _intent("谢谢物业,不过楼道灯又坏了") is Intent.REPAIR


# ---------------------------------------------------------------------------------- silence over noise


@pytest.mark.parametrize(
    "text", ["", "   ", "哈哈哈", "大家早上好", "[微笑][微笑]", "🌹🌹🌹", "http://t.cn/abc"]
)
def test_chatter_is_silent(text: str) -> None:
    result = classify(text)
    assert result.intent is Intent.CHITCHAT
    assert result.keywords == ()


def test_low_confidence_keeps_the_candidate_as_runner_up() -> None:
    result = classify("电梯")
    assert result.intent is Intent.CHITCHAT
    assert result.runner_up is Intent.REPAIR


# ---------------------------------------------------------------------------------- result shape


def test_classification_is_frozen_and_json_serialisable() -> None:
    result = classify("5号楼2单元402楼道灯坏了好几天了")
    assert isinstance(result, Classification)
    data = result.model_dump(mode="json")
    assert json.loads(json.dumps(data, ensure_ascii=False))["intent"] == "repair"
    assert set(data) >= {"intent", "confidence", "keywords", "runner_up", "urgent", "negated", "resolved"}
    assert set(data["keywords"][0]) >= {"word", "start", "end", "intent", "role"}
    assert data["places"] == {"building": "5号楼", "unit": "2单元", "floor": "4楼", "room": "402"}
    with pytest.raises(Exception):  # noqa: B017 - pydantic raises ValidationError on frozen models
        result.intent = Intent.ACK  # type: ignore[misc]


def test_ticket_intents() -> None:
    assert Intent.EMERGENCY in TICKET_INTENTS
    assert Intent.POLICY_QUERY in TICKET_INTENTS
    assert not TICKET_INTENTS & {Intent.THANKS, Intent.ACK, Intent.CHITCHAT}
    assert len(TICKET_INTENTS) == 14


def test_safe_from_many_threads() -> None:
    texts = ["电梯坏了", "收到", "着火了", "哈哈", "楼道里堆满了纸箱", "电梯没坏", "2单元楼道灯还没修好"] * 40
    reference = IntentEngine.load()  # one engine: a load per message took 100 s on a busy machine
    expected = [reference.classify(t) for t in texts]
    # A cold engine, its lazy parts (tokenizer, pattern variants) first used by four threads at once.
    engine = IntentEngine.load()
    start = threading.Barrier(4)
    results: list[list[Classification]] = []

    def work() -> None:
        start.wait()
        results.append([engine.classify(t) for t in texts])

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r == expected for r in results)


# ---------------------------------------------------------------------------------- the fast path


def test_no_keyword_hit_never_touches_the_tokenizer(tmp_path: Path) -> None:
    engine = IntentEngine.load(cache_dir=tmp_path)
    for text in ("大家早上好", "今天天气真好", "哈哈哈", "", "🌹🌹"):
        assert not engine.prefilter(text)
        assert engine.classify(text).intent is Intent.CHITCHAT
    assert not engine.segmenter.loaded
    engine.classify("电梯没坏")
    assert engine.segmenter.loaded


def test_trusted_construction_equals_validation() -> None:
    for text in ("5号楼2单元402楼道灯坏了好几天了", "收到", "大家好", "着火了"):
        result = classify(text)
        assert Classification.model_validate(result.model_dump()) == result


@pytest.mark.parametrize(
    "text", ["收到", "收到,谢谢", "好的", "谢谢王师傅👍", "没收到", "嗯嗯好的", "已阅,谢谢"]
)
def test_courtesy_fast_path_agrees_with_the_general_path(text: str) -> None:
    engine = IntentEngine.load()
    fast = engine.classify(text)
    general = engine._decide(  # the path every other message takes, forced
        fast.text, _hits(engine, fast.text), fast.question, fast.places
    )
    assert fast == general


def _hits(engine: IntentEngine, norm: str) -> list:
    from intents.engine import _Hit, _placed, _strip_marks

    hits = [_Hit(end + 1 - len(p.word), end + 1, p) for end, p in engine._automaton.iter(norm)]
    whole = engine._whole.get(_strip_marks(norm))
    if whole:
        start = norm.find(whole.word)
        hits.append(_Hit(start, start + len(whole.word), whole))
    hits = engine._filter([h for h in hits if not h.pattern.placed or _placed(norm, h, engine.lexicon)])
    engine._analyse(norm, hits)
    return hits


@pytest.mark.parametrize(
    "text", ["电梯什么时候能修好", "楼道灯啥时候修好啊 都一个礼拜了", "单元门禁到现在还没修好"]
)
def test_when_will_it_be_fixed_stays_a_complaint_whatever_the_second_opinion(text: str) -> None:
    # The intent model reads 修好 as a problem already fixed; it is not asked about these.
    result = classify(text)
    assert result.intent is Intent.REPAIR, result


# After held-out v12: an elsewhere cue (a video, the news, hearsay, another compound) in a message's first
# clause governs the clauses after it, up to one back here (the `here` cue: 咱, 我们, 号楼 …).
@pytest.mark.parametrize(
    "text",
    ["抖音刷到的 外省一个小区有人往楼下扔酒瓶子 砸坏了好几辆车"],
)
def test_a_story_told_from_elsewhere_reports_nothing(text: str) -> None:
    assert _intent(text) is Intent.CHITCHAT


# The round after held-out v26: hearsay by channel (a feed, a family group), a relative's workplace, the home
# town in other words, a story doubted: no ticket, by the keywords alone.
@pytest.mark.parametrize(
    "text",
    [
        "刷朋友圈看到邻市一个车库冒烟 消防车去了好几辆",
        "家族群里有人转了个视频 说哪个小区有人从楼上扔花盆",
        "小红书上说有个小区电梯掉下去了 吓死人",
        "听我同事说她们那栋楼天天有人往下扔垃圾",
        "听我妈说老家那儿有户人家半夜煤气中毒 幸好发现得早",
        "我姐上班那个写字楼 楼道里全是电动车在充电",
        "老家那头的狗半夜叫个不停 我妈天天睡不好",
        "头条上说南方有个小区井盖没盖 孩子掉下去了 不知道是真是假",
    ],
)
def test_hearsay_by_channel_reports_nothing(text: str) -> None:
    assert default_engine().classify_keywords(text).intent is Intent.CHITCHAT
    assert _intent(text) is Intent.CHITCHAT


# The round after the v29/v30 fold: a relative's block told in her words, a former home, the home village as a
# 屯, a problem gone since: no ticket, by the keywords alone.
@pytest.mark.parametrize(
    "text",
    [
        "我表哥说他们楼上天天半夜剁肉 他都快疯了",
        "我以前住的那个小区 电梯三天两头坏",
        "小时候在老宅 楼上老往下泼洗脚水",
        "老家乡下那边 邻居为了一条水沟打了一架",
        "我小姨在广州 她说她们楼上天天往下扔烟头",
        "那几年楼道里老有人堆纸箱 后来物业罚了几回就冇了",
    ],
)
def test_a_relatives_block_a_former_home_and_a_problem_gone_report_nothing(text: str) -> None:
    assert default_engine().classify_keywords(text).intent is Intent.CHITCHAT
    assert _intent(text) is Intent.CHITCHAT


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # ... while a relative living here, or her news of here, is a report
        ("我姐住我们楼下 她家厨房天花板漏水了 是不是楼上的管子", Intent.REPAIR),
        ("我姐说咱们楼上又往下扔垃圾了 砸到她晾的被子", Intent.THROWN_OBJECTS),
    ],
)
def test_a_relative_here_stays_a_report(text: str, expected: Intent) -> None:
    assert _intent(text) is expected


def test_news_of_here_from_a_colleague_stays_an_emergency() -> None:
    # Not every 听…说 is hearsay of elsewhere: this one brings news of here.
    assert _intent("听我同事说咱们楼下有人晕倒了 快去看看") is Intent.EMERGENCY


@pytest.mark.parametrize(
    "text",
    ["新闻里说高空抛物入刑了 咱们楼还有人往下扔烟头", "听说 5号楼有人往下扔菜叶子 砸到我晾的衣服上了"],
)
def test_a_story_back_here_is_reported(text: str) -> None:
    assert _intent(text) is Intent.THROWN_OBJECTS


# After held-out v14 (tests/data/README.md): 冇 (Hubei, Cantonese) negates as 没 does; a dream told
# supposes its problem; a first-aid kit is a thing one keeps; a fear for someone is no event; a person
# hanging or fallen in is one.
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3单元电梯上个月就报了 到现在还是冇修好", Intent.REPAIR),
        ("昨晚梦到跟楼下邻居为停车位吵起来了 醒了还气", Intent.CHITCHAT),
        ("梦见楼上往下扔花盆 吓醒了", Intent.CHITCHAT),
        ("社区发的急救包里都有些什么 谁拆开看过", Intent.CHITCHAT),
        ("快拿急救箱来 2楼有人晕倒了", Intent.EMERGENCY),
        ("隔壁独居的爹爹最近饭都不吃 怕他想不开 网格员能不能去看看", Intent.ELDER_CARE),
        ("装空调的师傅安全绳松了 人挂在9楼外墙上 下不来", Intent.EMERGENCY),
        ("小区东门挖的那个沟里掉下去一个人 半天没动静", Intent.EMERGENCY),
        # a repair told after the fact by the fix: the keywords are sure (0.96), the intent model is asked
        ("2号楼电梯的异响 今天师傅来换了个滑轮 现在一点声都听不到了", Intent.CHITCHAT),
        ("电梯异响的事 师傅下午来换了个轴承 现在安静得很", Intent.CHITCHAT),
        ("通知已收 5-1-302", Intent.ACK),
        ("已通知我爸", Intent.ACK),
        ("已通知物业 3单元电梯又坏了", Intent.REPAIR),
        # the cause found, and it was one's own; a cause found that is the problem stays a report
        ("门禁刷不开 后来发现是我的卡消磁了 重新办了一张", Intent.CHITCHAT),
        ("门禁刷不开 后来发现是门禁坏了 物业快来修", Intent.REPAIR),
    ],
)
def test_held_out_v14_phrasings(text: str, expected: Intent) -> None:
    assert _intent(text) is expected
