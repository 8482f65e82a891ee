"""Text normalisation before matching: NFKC (full-width to half-width), lower-case Latin letters, and
removal of what is not the resident's own words: @mentions, CQ codes, [表情] codes, URLs and control
characters; the traditional forms of the lexicon's characters folded to simplified. Digits, Chinese
punctuation and emoji are kept."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from typing import Final

# Raw input beyond this is ignored: a chat message is never that long, and time stays bounded.
MAX_RAW_CHARS = 8000
# Normalised text beyond this is not classified (keywords past it are not looked for).
MAX_CHARS = 1000

_CQ: Final = re.compile(r"\[CQ:[^\]]{0,500}\]", re.IGNORECASE)
# WeChat/QQ emoticon codes typed as text: [微笑] [捂脸] [OK] [Facepalm].
_EMOTE: Final = re.compile(r"\[[^\[\]\s]{1,10}\]")
# URLs stop at whitespace or at the first CJK character (people write "链接http://x.cn看看").
_URL: Final = re.compile(r"(?:https?://|www\.)[^\s\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]*", re.IGNORECASE)
# An @mention is "@name" followed by whitespace (WeChat appends U+2005, which NFKC turns into a space).
# A short "@name" ending the message after other text is a mention too ("谢谢@王师傅"). Any other "@"
# glued to the following words is kept as text minus the "@": where the name ends is unknowable.
_MENTION: Final = re.compile(r"@[^\s@]{1,24}(?=\s)|(?<=[^\s@])@[^\s@]{1,8}$")
_SPACE: Final = re.compile(r"\s+")
# A bare 好, 得 or 行 opening a message before a space or a comma answers "OK" to what the group
# was told, and what follows is what the writer will do or did (好 明早带身份证过去, 得 我听日去填表,
# 行 周六上午过去: all 73 messages of the tuning part so opened are acks, 37 of them chitchat to the
# engine before, its models included): written 好的, the ack word the lexicon holds at a clause start,
# as 好的 明早带身份证过去 already was. 好 inside a message (好热, 真好 我…) is not touched.
_BARE_YES: Final = frozenset("好得行")
# Whether _SPACE.sub would change anything: two whitespace characters in a row, or one that is not " ".
_SPACE_TO_FIX: Final = re.compile(r"\s\s|[^\S ]")

_CONTROL: dict[int, str | None] = {c: " " for c in (*range(0, 32), *range(127, 160))}
_CONTROL.update(
    {c: None for c in (0x200B, 0x200C, 0x200D, 0x200E, 0x200F, 0x2060, 0xFEFF, 0x00AD, 0xFE0E, 0xFE0F)}
)
# Whether translate(_CONTROL) would change anything (most messages have no such character).
_HAS_CONTROL: Final = re.compile("[" + "".join(re.escape(chr(c)) for c in sorted(_CONTROL)) + "]")


# The characters most Chinese messages need NFKC for (full-width punctuation) and their NFKC form, which is
# their full compatibility decomposition: folding them first leaves NFKC's result unchanged.
_FULL_WIDTH: Final = tuple((c, unicodedata.normalize("NFKD", c)) for c in "，！？：；（）～\u3000")


def _fold_full_width(text: str) -> str:
    """The common full-width punctuation replaced by its NFKC form before NFKC itself: a message with a
    full-width comma costs NFKC a full decomposition and recomposition (about 8 µs for 40 characters);
    folded, it is usually normalised already, and NFKC returns it after a quick check. `str.replace`,
    not `str.translate` (which takes its slow path on Chinese text and costs as much as NFKC)."""
    for full, folded in _FULL_WIDTH:
        if full in text:
            text = text.replace(full, folded)
    return text


# Traditional characters folded to the simplified ones the lexicon is written in (高空拋物 → 高空抛物,
# 電梯 → 电梯), as pairs (traditional, simplified): every traditional form (OpenCC's t2s, character by
# character) of a character of the shipped lexicon, unless the traditional form is a character of the
# lexicon itself (係 and 唔係 are dialect forms of their own) or an everyday simplified character of
# names (乾县). A lexicon word is normalised as a message is, so one written in traditional is folded alike.
_TRADITIONAL_PAIRS: str = (
    "丟丢並并亂乱佈布佔占併并來来侷局俬私倆俩倉仓個个們们倖幸倫伦備备傢家傳传傷伤價价儘尽優优儲储兇凶兌兑兒儿"
    "兩两冊册凈净凍冻別别剋克剛刚創创劃划劇剧勁劲動动務务勞劳勢势勵励區区協协卹恤厠厕參参吶呐員员唄呗問问喚唤"
    "喪丧喫吃單单嗆呛嗎吗嗚呜嗩唢嘍喽嘔呕嘩哗噁恶噠哒噴喷噹当嚇吓嚕噜嚥咽嚨咙嚮向嚴严囉啰囌苏囪囱圇囵國国圍围"
    "園园圓圆團团埰采執执報报場场塊块塗涂墊垫墜坠墰坛墻墙壇坛壓压壜坛壞坏夠够夢梦夥伙夾夹奬奖媽妈嬰婴孃娘孫孙"
    "學学寀采實实審审寫写寬宽寵宠寶宝將将專专尋寻對对層层屬属崗岗嵗岁師师帶带幣币幫帮幷并幹干幾几庫库廁厕廂厢"
    "廢废廣广弔吊張张彆别彈弹彎弯彔录彿佛後后從从復复徵征悶闷惡恶惱恼愛爱態态慮虑慼戚慾欲應应懸悬戰战戲戏戶户"
    "拋抛捨舍捱挨捲卷掃扫掛挂採采揚扬換换搖摇搧扇搶抢摺折撈捞撐撑撫抚撲扑撿捡擊击擋挡擔担據据擠挤擡抬擬拟擰拧"
    "擱搁擺摆擾扰攏拢攔拦攤摊敎教數数斷断於于旂旗昇升時时晝昼暈晕曉晓曏向曬晒書书會会東东枴拐柺拐査查桿杆條条"
    "棟栋業业極极榦干槍枪樁桩樂乐樓楼樣样樹树機机橫横檢检檯台櫃柜櫥橱欄栏歲岁殘残殭僵殺杀殻壳殼壳氣气汙污決决"
    "沒没沖冲洩泄涼凉淚泪淨净淩凌減减測测渾浑準准溝沟溫温溼湿滅灭滲渗滾滚滿满漢汉漲涨潑泼潔洁澆浇澱淀濁浊濃浓"
    "濕湿瀉泻災灾為为烏乌無无煙烟煩烦熱热燈灯燉炖燒烧燭烛燻熏爐炉爛烂爲为爺爷牀床牆墙牴抵獃呆獎奖獨独現现環环"
    "產产産产畫画異异畵画當当痠酸瘋疯瘓痪癇痫癡痴癥症癬癣癮瘾癱瘫癲癫發发盜盗盡尽監监盤盘盪荡眞真睏困確确碼码"
    "磚砖礙碍礦矿禮礼穀谷積积穩稳窩窝竅窍竈灶竪竖競竞筆笔箇个箏筝節节範范築筑簡简簽签簾帘籃篮籠笼籤签籬篱糞粪"
    "糰团糾纠紀纪約约紅红紋纹紙纸級级紛纷紮扎細细終终組组絆绊結结給给絨绒絲丝綁绑經经綜综綠绿綫线維维網网綵彩"
    "緊紧緑绿緒绪線线編编緩缓練练緻致縣县縮缩總总織织繞绕繩绳繪绘繫系續续纍累纔才罈坛罎坛罵骂罷罢羣群習习翫玩"
    "聞闻聲声聽听脣唇脩修脫脱脹胀腦脑腳脚腸肠膠胶膽胆臉脸臘腊臟脏臥卧臺台舉举舊旧舘馆菸烟萬万葉叶葯药蒐搜蒼苍"
    "蓋盖蔘参蕩荡薩萨藝艺藥药蘇苏處处虛虚號号虧亏蟲虫蟻蚁蠅蝇衕同衚胡衛卫衝冲袷夹裏里補补裝装裡里製制複复褲裤"
    "襖袄襬摆見见視视親亲覺觉觀观觸触訂订計计討讨訓训託托記记訛讹設设許许訴诉註注証证評评試试話话該该誇夸誌志"
    "認认語语誤误說说説说誰谁課课調调請请諒谅論论講讲謝谢謠谣謡谣譁哗證证識识譟噪議议護护讀读變变讓让讚赞豎竖"
    "貓猫負负貨货責责買买貸贷費费貼贴資资賊贼賠赔賣卖賬账賴赖購购賽赛贊赞趕赶車车軟软較较輕轻輛辆輪轮轉转轎轿"
    "轟轰辦办農农迴回這这連连週周進进遊游運运過过達达遙遥遞递遶绕遷迁遺遗還还邊边鄉乡鄰邻醣糖醫医針针鈅钥鈕钮"
    "鈴铃鉅巨鉆钻銀银銅铜銷销銹锈鋼钢錄录錐锥錘锤錢钱錦锦錯错録录錶表鍋锅鍵键鍼针鎖锁鎚锤鎭镇鎮镇鏇旋鏈链鏡镜"
    "鏽锈鐵铁鑑鉴鑒鉴鑰钥鑽钻長长門门閃闪閉闭開开閑闲閒闲間间閘闸閤合閥阀閨闺閱阅閲阅闆板關关闢辟陞升陣阵陰阴"
    "陽阳隊队階阶隨随險险隱隐隻只雙双雜杂雞鸡難难雲云電电霧雾靈灵靜静韆千響响頁页頂顶項项順顺預预領领頭头頸颈"
    "頻频顆颗題题額额願愿顛颠類类顧顾顯显風风颱台颳刮飄飘飛飞飯饭飲饮飽饱餅饼養养餓饿餘余館馆餬糊餿馊饞馋馬马"
    "駕驾駡骂騎骑騰腾騷骚驚惊驟骤驢驴髒脏體体髮发鬆松鬍胡鬧闹鬱郁魚鱼鳥鸟鳴鸣鴉鸦鴿鸽鵡鹉鷄鸡鸚鹦麪面麫面麵面"
    "麼么麽么黃黄點点黴霉鼕冬齒齿齡龄齣出龍龙"
)
_TRADITIONAL: dict[int, str] = {
    ord(_TRADITIONAL_PAIRS[i]): _TRADITIONAL_PAIRS[i + 1] for i in range(0, len(_TRADITIONAL_PAIRS), 2)
}
# Whether translate(_TRADITIONAL) would change anything (one character-class search; most messages have none).
_HAS_TRADITIONAL = re.compile("[" + "".join(sorted(chr(c) for c in _TRADITIONAL)) + "]")


def normalize(text: str) -> str:
    """Return the text as the matcher sees it. Idempotent: normalize(normalize(x)) == normalize(x)."""
    if len(text) > MAX_RAW_CHARS:
        text = text[:MAX_RAW_CHARS]
    if not text.isascii():
        if not unicodedata.is_normalized("NFKC", text):
            text = unicodedata.normalize("NFKC", _fold_full_width(text))
        if _HAS_TRADITIONAL.search(text) is not None:
            text = text.translate(_TRADITIONAL)
    # `str.isprintable` (a C loop, a fifth of a regex scan) is False for every character of _CONTROL but
    # the two variation selectors, and for every whitespace character but " ": the regexes below are only
    # asked when it cannot answer for them.
    if (not text.isprintable() or "\ufe0e" in text or "\ufe0f" in text) and _HAS_CONTROL.search(text):
        text = text.translate(_CONTROL)
    if "[" in text:
        if "[CQ:" in text or "[cq:" in text:
            text = _CQ.sub(" ", text)
        text = _EMOTE.sub(" ", text)
    if "http" in text or "www." in text or "HTTP" in text or "WWW." in text:
        text = _URL.sub(" ", text)
    if "@" in text:
        text = _MENTION.sub(" ", text).replace("@", "")
    text = text.lower()
    if ("  " in text) if text.isprintable() else _SPACE_TO_FIX.search(text) is not None:
        text = _SPACE.sub(" ", text)
    text = text.strip()
    if len(text) > 2 and text[1] in " ," and text[0] in _BARE_YES:
        text = "好的" + text[1:]
    if len(text) > MAX_CHARS:
        text = text[:MAX_CHARS]
    return text


# Everyday Mandarin characters (the commonest few hundred of written Chinese), never chosen as a dialect
# form's gate key when the form has another: the gate of 跌低 is 跌, not 低.
_EVERYDAY: Final = frozenset(
    "的一是不了在人有我他这个们中来上大为和地到以说时要就出会可也你对生能而子那得于着下自之年过发后作里用道行所"
    "然家种事成方多经么去法学如都同现当没动面起看定天分还进好小部其些主样理心本前开但因只从想实日意无力把机十此"
    "已工使情明知全三又关点正外将两高间由问很最重并物手应向头文体相见被利什二等产或新己制身果加西月话合回代内信"
    "表化老给位次度门任常先海通教儿原东声提立比员解水名真论处走各入几口认条平系气题活更别打女变四总何电数安少才"
    "结反受目太量再感建务做接必场件计管期直命山金指许形社便空决展书非则听白却界达光放强即像难且车住今雨冷细"
)


class DialectMap:
    """The lexicon's dialect word map (`[dialect]`: a written dialect form → the Mandarin form the rest of
    the lexicon knows: 咗 → 了, 冇人 → 没人, 掟 → 扔), applied once to normalised text, before the keyword
    automaton, segmentation and the models. Left to right, the longest form at each position wins (冇人
    before 冇); what it puts in is never read again (the lexicon loader rejects a Mandarin form containing a
    dialect form, so mapping twice changes nothing). The forms are one regex built as a trie; before it, a
    gate: one character of each form (a form by itself if it holds one, else one no everyday character and
    fewest words of `common`, the lexicon's Mandarin vocabulary, hold: 好嘈 by 嘈, 我哋 by 哋), so that a
    message with none of these characters costs one character-class search."""

    __slots__ = ("_gate", "_pattern", "forms")

    def __init__(self, forms: dict[str, str], common: Iterable[str] = ()) -> None:
        self.forms = dict(forms)
        self._pattern = re.compile(_trie_regex(self.forms)) if self.forms else None
        # A character that is a form by itself (咗, 嘅, 嗰) is dialect-only: the best key of a longer form
        # holding it (嗰度 by 嗰, not 度); else the character fewest Mandarin words hold.
        counts = Counter("".join(set(common)))
        singles = {form for form in self.forms if len(form) == 1}
        keys = {
            min(form, key=lambda char: (char not in singles, char in _EVERYDAY, counts[char]))
            for form in self.forms
        }
        self._gate = re.compile("[" + "".join(re.escape(c) for c in sorted(keys)) + "]") if keys else None

    def __bool__(self) -> bool:
        return bool(self.forms)

    def apply(self, text: str) -> str:
        """The text with every dialect form replaced by its Mandarin form (the text itself if none)."""
        gate = self._gate
        if gate is None or gate.search(text) is None:
            return text
        pattern = self._pattern
        assert pattern is not None
        m = pattern.search(text)
        if m is None:
            return text
        forms = self.forms
        start = m.start()
        return text[:start] + pattern.sub(lambda found: forms[found.group()], text[start:])

    def spans(self, text: str) -> tuple[str, tuple[tuple[int, int, int, int], ...]]:
        """`apply`, with where each replacement sits: (start, end) in the mapped text and (start, end) in
        `text`, in order (none: the text is unchanged)."""
        gate = self._gate
        if gate is None or gate.search(text) is None:
            return text, ()
        pattern = self._pattern
        assert pattern is not None
        forms = self.forms
        parts: list[str] = []
        spans: list[tuple[int, int, int, int]] = []
        last = 0
        out = 0
        for m in pattern.finditer(text):
            start, end = m.span()
            parts.append(text[last:start])
            out += start - last
            mandarin = forms[m.group()]
            parts.append(mandarin)
            spans.append((out, out + len(mandarin), start, end))
            out += len(mandarin)
            last = end
        if not spans:
            return text, ()
        parts.append(text[last:])
        return "".join(parts), tuple(spans)


def _trie_regex(forms: dict[str, str]) -> str:
    """One regex matching every form, longest first at each position: the forms as a trie, each node a
    group of its children's branches, optional (greedy, so tried first) where a form ends there."""
    trie: dict[str, dict] = {}
    for form in forms:
        node = trie
        for char in form:
            node = node.setdefault(char, {})
        node[""] = {}

    def build(node: dict[str, dict]) -> str:
        branches = [re.escape(char) + build(child) for char, child in sorted(node.items()) if char]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        if "" in node:
            return f"(?:{body})?"
        return body

    return build(trie)


def original_span(spans: tuple[tuple[int, int, int, int], ...], start: int, end: int) -> tuple[int, int]:
    """Where the span [start, end) of a mapped text (`DialectMap.spans`) was in the text before mapping: a
    position inside a replacement widens to the whole dialect form it came from."""
    return _original_at(spans, start, left=True), _original_at(spans, end, left=False)


def _original_at(spans: tuple[tuple[int, int, int, int], ...], pos: int, *, left: bool) -> int:
    shift = 0
    for m_start, m_end, o_start, o_end in spans:
        if pos <= m_start:
            break
        if pos < m_end:
            return o_start if left else o_end
        shift = o_end - m_end
    return pos + shift
