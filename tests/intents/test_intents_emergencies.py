"""Emergencies, kind by kind: each is recognised however it is phrased (within the vocabulary), wins over
any other intent, and is urgent; hypotheticals, past or resolved events, drills and lessons, bargains and
figures of speech are not emergencies."""

from __future__ import annotations

import pytest

from intents import Intent, classify

EMERGENCIES = [
    "楼下垃圾桶烧着了,火越烧越旺",
    "5号楼厨房窗户在冒黑烟",
    "看见3楼阳台有火苗窜出来",
    "楼道里有很重的煤气味,谁家的",
    "一进单元门就闻到燃气味,大家注意别开灯",
    "我家燃气管子漏气了,阀门拧不动",
    "楼道里一股天然气的味道,很冲",
    "楼下有个大姐突然晕倒了",
    "刚才有个老头在菜店门口晕过去了",
    "有人倒地了,就在2号楼门口",
    "老人躺在地上不省人事,谁来帮忙",
    "爷爷没意识了,叫他也没反应,快来人",
    "我爸好像没呼吸了,谁会心肺复苏",
    "有个小孩在广场上抽搐,口吐白沫",
    "有人切菜切到手大出血,止不住",
    "我妈喘不上气,嘴唇都发紫了",
    "楼下大爷心脏病犯了,谁家有速效救心丸",
    "奶奶在卫生间摔了起不来,门还反锁着",
    "5号楼电梯困梯了,里面有个孕妇",
    "我被关在电梯里了,按警铃没人理",
    "有个小孩卡在电梯里出不来",
    "快来人,有个孩子掉进小区的水池里了",
    "有个小孩掉进池塘里了,快来帮忙",
    "有人落水了,就在小区后面的河边",
    "孩子掉水池里了",
    "装修师傅触电了,倒在地上",
    "救命啊,救命",
    "快来人啊",
    "快叫救护车,有人从楼梯上滚下来了",
    "谁快打120,老人不行了",
    "赶紧打119",
    "快报警,有人撬门",
    "有个女的坐在窗台上说要跳楼",
    "6楼有人要跳楼,快去拦住",
    "楼下两个人拿刀打起来了",
    "有人被捅了,流了一地血",
    "楼上水管爆了,水漫进屋了,家具都泡了",
    "暴雨水漫进屋了,一楼好几家都淹了",
    "地下室进水了,水往屋里灌,快来人",
    "电动车在楼道里烧起来了",
    "有人煤气中毒,叫不醒",
    "孩子吞了纽扣电池,怎么办,快叫救护车",
    "楼下有人被车撞了躺在地上",
    "1单元有人被电击了",
    "谁家燃气报警器一直在响,4单元三楼",
    "我妈摔倒了 那个跌倒报警的手表也没响 快来人",
    "电梯卡住了 按了报警铃没人应 里面有人 快来",
]

NOT_EMERGENCIES = [
    "万一着火了怎么办,大家家里备个灭火器",
    "万一有人掉进水池里就麻烦了,水池边上该装个护栏",
    "下周三上午消防演练,大家听到警报不要慌",
    "物业今天来检查灭火器,家里有人的开下门",
    "昨天那个火已经灭了,大家放心",
    "火已经灭了,没人受伤",
    "昨天困在电梯里的那位大爷已经救出来了,没事了",
    "社区周六有急救知识培训,教心肺复苏,欢迎报名",
    "燃气公司下周入户安检,请大家留人在家",
    "夏天到了,家长们看好孩子,防溺水",
    "帮我砍一刀,谢谢",
    "今天菜市场砍价砍得好累",
    "这部剧里男主跳楼那段太虚了",
    "电梯困人演练下午两点开始",
    "如果燃气味很重,先开窗再打电话",
    "预防煤气中毒,冬天记得开窗通风",
    "我快累晕了",
    "我家小孩今天打疫苗哭晕了",
    "跳楼价甩卖,走过路过别错过",
    "我的消息被淹了,大家看一下上面",
    "落水管堵了,雨水往外冒",
    "社区医院有医生吗",
    "自动售货机把我的钱吞了",
    "电瓶车轮胎没气了",
    "有人把垃圾桶撞倒了",
    "大家有空学学心肺复苏",
    "电梯里有人抽烟",
    "烟雾报警器没电了一直响",
    "消防栓上写着火警电话",
    "小区装了AED,在物业门口",
    # a product named by what it does (a fall alarm to buy), a test announced
    "想给我妈买个摔倒会报警的手表 哪个牌子好",
    "社区给独居老人发了一键报警手环",
    "下午两点测试消防警报 听到响声不用慌",
    "明早物业测试电梯报警铃 铃响别担心",
]


@pytest.mark.parametrize("text", EMERGENCIES)
def test_emergency_is_recognised_and_urgent(text: str) -> None:
    result = classify(text)
    assert result.intent is Intent.EMERGENCY, result.scores
    assert result.urgent
    assert result.confidence >= 0.5


@pytest.mark.parametrize("text", NOT_EMERGENCIES)
def test_not_an_emergency(text: str) -> None:
    result = classify(text)
    assert result.intent is not Intent.EMERGENCY, result.scores


@pytest.mark.parametrize(
    ("text", "other"),
    [
        ("楼上水管爆了,水漫进屋了,家具都泡了", Intent.REPAIR),
        ("楼道里堆满了纸箱,刚才纸箱烧着了", Intent.CORRIDOR_CLUTTER),
        ("电动车在楼道充电,电瓶冒烟了", Intent.EBIKE),
        ("谢谢大家,有人晕倒了快来帮忙", Intent.THANKS),
    ],
)
def test_emergency_wins_over_a_stronger_other_intent(text: str, other: Intent) -> None:
    result = classify(text)
    assert result.intent is Intent.EMERGENCY
    assert other in dict(result.scores)


def test_a_call_for_help_alone_is_an_emergency_but_lends_urgency_to_a_stated_problem() -> None:
    assert classify("快来人啊").intent is Intent.EMERGENCY
    result = classify("地下室的水管在往外喷水,快来人关阀门")
    assert result.intent is Intent.REPAIR
    assert result.urgent


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("这不是演练,真着火了", Intent.EMERGENCY),
        ("上次电梯困人还没说法,今天又有人困在电梯里了", Intent.EMERGENCY),
        ("万一着火怎么办,楼下现在就冒黑烟了", Intent.EMERGENCY),
    ],
)
def test_drill_and_hypothetical_cues_stay_in_their_scope(text: str, expected: Intent) -> None:
    assert classify(text).intent is expected
