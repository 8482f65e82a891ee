"""The lexicon loader: community files layered on the shipped lexicon, and errors that name the entry."""

from __future__ import annotations

from pathlib import Path

import pytest

from intents import DEFAULT_LEXICON_PATH, Intent, IntentEngine, LexiconError, load_lexicon
from intents.lexicon import Role


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_lexicon_loads_and_covers_every_intent() -> None:
    lexicon = load_lexicon()
    covered = {rule.intent for rules in lexicon.keywords.values() for rule in rules}
    covered |= {rule.intent for rule in lexicon.cooccur}
    assert covered == set(Intent) - {Intent.CHITCHAT}
    assert {"灯笼", "热水器", "水电费", "电梯广告"} <= lexicon.block
    assert lexicon.sources == (str(DEFAULT_LEXICON_PATH),)


def test_community_file_adds_overrides_and_removes(tmp_path: Path) -> None:
    community = _write(
        tmp_path,
        "community.toml",
        """
[settings]
threshold = 0.55

[block]
words = ["电梯卡"]

[intents.repair]
remove = ["停水"]

[[intents.repair.keywords]]
role = "problem"
weight = 1.5
words = ["水表冻了"]

[[intents.sanitation.keywords]]
role = "problem"
weight = 2.0
words = ["噪音"]
""",
    )
    engine = IntentEngine.load([community])
    assert engine.lexicon.settings.threshold == 0.55
    assert engine.classify("5号楼水表冻了").intent is Intent.REPAIR
    assert engine.classify("今天停水").intent is Intent.CHITCHAT
    assert engine.classify("我的电梯卡找不到了").intent is Intent.CHITCHAT
    rules = {r.intent: r for r in engine.lexicon.keywords["噪音"]}
    assert rules[Intent.SANITATION].weight == 2.0 and rules[Intent.NOISE].role is Role.PROBLEM


def test_yaml_community_file(tmp_path: Path) -> None:
    community = _write(
        tmp_path,
        "community.yaml",
        """
intents:
  elder_care:
    keywords:
      - role: problem
        weight: 1.5
        words: [老人摔了一跤]
""",
    )
    assert IntentEngine.load([community]).classify("楼上老人摔了一跤").intent is Intent.ELDER_CARE


def test_later_layer_replaces_a_cooccurrence_rule(tmp_path: Path) -> None:
    community = _write(
        tmp_path,
        "c.toml",
        """
[[intents.repair.cooccur]]
name = "elevator"
objects = ["电梯"]
signals = ["罢工"]
weight = 1.4
""",
    )
    engine = IntentEngine.load([community])
    assert engine.classify("电梯又罢工了").intent is Intent.REPAIR
    rule = next(r for r in engine.lexicon.cooccur if r.name == "elevator")
    assert rule.signals == ("罢工",)


# Their keyword emergency is the emergency second opinion's (臭鸡蛋味 熏得头疼: an alarm sign); the keywords
# alone make a sanitation ticket.
_GAS_SMELL = "楼道里一股臭鸡蛋味 熏得头疼 草"
# A pet fell, and no person is named: a benign subject (the `pet` and `person` cues), left chitchat.
_PET_FELL = "我家猫从柜子顶上摔下来了"


def test_community_file_adds_a_marker_word(tmp_path: Path) -> None:
    """A word added to the laughter cue (草, net slang for laughing) silences the emergency second opinion in
    that community, and only there."""
    community = _write(tmp_path, "c.toml", '[cues]\nlaughter = ["草"]\n')
    engine = IntentEngine.load([community])
    shipped = IntentEngine.load()
    assert shipped.classify(_GAS_SMELL).intent is Intent.EMERGENCY
    assert engine.classify(_GAS_SMELL).intent is Intent.SANITATION
    assert "草" in engine.lexicon.cues.laughter and "哈哈" in engine.lexicon.cues.laughter
    assert engine.laughing("草") and not shipped.laughing("草")


@pytest.mark.parametrize(
    "text",
    [
        '[cues.remove]\npet = ["猫"]\n',  # from that one list
        '[cues]\nremove = ["猫"]\n',  # from every cue list
        '[cues.replace]\npet = ["狗", "鹦鹉"]\n',  # the list set outright
    ],
)
def test_community_file_removes_or_replaces_a_marker_word(tmp_path: Path, text: str) -> None:
    """Without 猫 among the pets, a cat's fall is put to the emergency model like anyone's."""
    engine = IntentEngine.load([_write(tmp_path, "c.toml", text)])
    assert IntentEngine.load().classify(_PET_FELL).intent is Intent.CHITCHAT
    assert engine.classify(_PET_FELL).intent is Intent.EMERGENCY
    assert "猫" not in engine.lexicon.cues.pet
    assert "狗" in engine.lexicon.cues.pet and "孩" in engine.lexicon.cues.person


def test_replace_empties_a_cue_and_a_later_file_adds_again(tmp_path: Path) -> None:
    """`[cues.replace] pet = []` turns the cue off (an empty list matches nothing); a later file may add to
    it as to any list."""
    off = _write(tmp_path, "off.toml", "[cues.replace]\npet = []\n")
    assert load_lexicon([off]).cues.pet == frozenset()
    assert IntentEngine.load([off]).classify(_PET_FELL).intent is Intent.EMERGENCY
    again = _write(tmp_path, "again.toml", '[cues]\npet = ["猫"]\n')
    assert load_lexicon([off, again]).cues.pet == {"猫"}
    assert IntentEngine.load([off, again]).classify(_PET_FELL).intent is Intent.CHITCHAT


def test_marker_words_are_literal(tmp_path: Path) -> None:
    """A cue word is matched as written: regex syntax in it (a bracket, a dot) is no pattern."""
    engine = IntentEngine.load([_write(tmp_path, "c.toml", '[cues]\nlaughter = ["(草)", "h.h"]\n')])
    assert engine.classify(_GAS_SMELL.replace("草", "(草)")).intent is Intent.SANITATION
    assert engine.classify(_GAS_SMELL).intent is Intent.EMERGENCY
    assert engine.laughing("h.h") and not engine.laughing("hah")


def test_yaml_community_file_with_cues(tmp_path: Path) -> None:
    community = _write(tmp_path, "c.yaml", "cues:\n  laughter: [草]\n  remove:\n    pet: [猫]\n")
    cues = load_lexicon([community]).cues
    assert "草" in cues.laughter and "猫" not in cues.pet


@pytest.mark.parametrize(
    ("text", "entry", "line", "message"),
    [
        (
            '[[intents.repair.keywords]]\nrole = "objekt"\nwords = ["电梯"]\n',
            "intents.repair.keywords[0].role",
            2,
            "unknown role",
        ),
        ("[intents.repairs]\nthreshold = 0.5\n", "intents.repairs", 1, "unknown intent"),
        (
            '[[intents.noise.keywords]]\nrole = "problem"\nweight = 99\nwords = ["吵"]\n',
            "intents.noise.keywords[0].weight",
            3,
            "between",
        ),
        (
            '[[intents.noise.keywords]]\nrole = "problem"\nwords = ["吵", "闹", "吵"]\n',
            "intents.noise.keywords[0].words[2]",
            3,
            "listed twice",
        ),
        (
            '[[intents.noise.keywords]]\nrole = "problem"\nwords = ["吵"]\n\n'
            '[[intents.noise.keywords]]\nrole = "problem"\nwords = ["", "闹"]\n',
            "intents.noise.keywords[1].words[0]",
            7,
            "empty",
        ),
        (
            '[[intents.noise.keywords]]\nrole = "problem"\nwords = "吵"\n',
            "intents.noise.keywords[0].words",
            3,
            "list",
        ),
        ('[[intents.noise.keywords]]\nrole = "problem"\n', "intents.noise.keywords[0]", 1, "missing 'words'"),
        ("[settings]\nthreshhold = 0.5\n", "settings.threshhold", 2, "unknown key"),
        ("[settings]\nthreshold = 1.5\n", "settings.threshold", 2, "between"),
        ("[intents.chitchat]\n", "intents.chitchat", 1, "chitchat has no keywords"),
        (
            '[[intents.repair.cooccur]]\nname = "x"\nobjects = ["电梯"]\nweight = 1\n',
            "intents.repair.cooccur[0]",
            1,
            "missing 'signals'",
        ),
        ('[generic]\nproblem = ["坏了"]\nurgent = ["坏了"]\n', "generic.urgent[0]", 3, "already listed"),
        ("[nonsense]\n", "nonsense", 1, "unknown key"),
        # The cue lists (lexicon.toml: [cues]), the markers of the second opinions among them.
        ('[cues]\nlaugh = ["哈哈"]\n', "cues.laugh", 2, "unknown key 'laugh'"),
        ('[cues]\nlaughter = "哈哈"\n', "cues.laughter", 2, "must be a list of words"),
        ('[cues]\nlaughter = ["哈哈", 3]\n', "cues.laughter[1]", 2, "must be a string"),
        ('[cues]\npet = ["猫", ""]\n', "cues.pet[1]", 2, "empty"),
        ("[cues]\npet = []\n", "cues.pet", 2, "must not be empty"),
        ('[cues]\nlaughter = ["哈哈|呵呵"]\n', "cues.laughter[0]", 2, "cue words are literal"),
        ('[cues]\ninterjection = ["嗯", "嗯嗯"]\n', "cues.interjection[1]", 2, "not a single character"),
        ('[cues]\nkin_away = ["表姐", "表哥在"]\n', "cues.kin_away[0]", 2, "followed by 在 or 住"),
        ("[cues.replace]\nlaugh = []\n", "cues.replace.laugh", 2, "unknown key 'laugh'"),
        ('[cues.replace]\npet = "狗"\n', "cues.replace.pet", 2, "must be a list of words"),
        ('[cues.remove]\npets = ["猫"]\n', "cues.remove.pets", 2, "unknown key 'pets'"),
        ("[cues.remove]\npet = [1]\n", "cues.remove.pet[0]", 2, "must be a string"),
        (
            '[cues]\npet = ["猫"]\n\n[cues.replace]\npet = ["狗"]\n',
            "cues.pet",
            2,
            "both added to and replaced",
        ),
        # The dialect word map ([dialect]: a written dialect form = its Mandarin form).
        ('[dialect.words]\n"咗" = 1\n', "dialect.words.咗", 2, "must be a string"),
        ('[dialect.words]\n"睇" = "看"\n"咗" = ""\n', "dialect.words.咗", 3, "empty"),
        ('[dialect.words]\n"咗" = "咗"\n', "dialect.words.咗", 2, "mapped to itself"),
        ("[dialect]\nword = {}\n", "dialect.word", 2, "unknown key 'word'"),
        ('[dialect]\nwords = ["咗"]\n', "dialect.words", 2, "must be a table"),
        # 佢 -> 他嘅 would be read again (嘅 is a shipped dialect form): mapping twice must change nothing.
        ('[dialect.words]\n"佢" = "他嘅"\n', "dialect.words.佢", 2, "mapped again"),
    ],
)
def test_bad_lexicon_names_the_entry(tmp_path: Path, text: str, entry: str, line: int, message: str) -> None:
    path = _write(tmp_path, "bad.toml", text)
    with pytest.raises(LexiconError) as caught:
        load_lexicon([path])
    error = caught.value
    assert error.file == str(path)
    assert error.entry == entry
    assert error.line == line
    assert message in str(error)
    assert str(path) in str(error) and entry in str(error)


def test_invalid_toml_gives_the_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "broken.toml", '[settings]\nthreshold = 0.5\nwords = ["a",\n[x]\n')
    with pytest.raises(LexiconError, match="invalid TOML") as caught:
        load_lexicon([path])
    assert caught.value.line is not None


def test_invalid_yaml_gives_the_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "broken.yaml", "intents:\n  repair:\n    keywords: [\n")
    with pytest.raises(LexiconError, match="invalid YAML") as caught:
        load_lexicon([path])
    assert caught.value.line is not None


def test_yaml_error_names_the_entry(tmp_path: Path) -> None:
    path = _write(
        tmp_path, "bad.yaml", "intents:\n  repair:\n    keywords:\n      - role: fixer\n        words: [a]\n"
    )
    with pytest.raises(LexiconError) as caught:
        load_lexicon([path])
    assert caught.value.entry == "intents.repair.keywords[0].role"
    assert caught.value.line == 4


def test_missing_file_and_wrong_suffix(tmp_path: Path) -> None:
    with pytest.raises(LexiconError, match="cannot read"):
        load_lexicon([tmp_path / "nope.toml"])
    with pytest.raises(LexiconError, match=r"\.toml, \.yaml"):
        load_lexicon([_write(tmp_path, "words.txt", "电梯")])


def test_shipped_lexicon_words_are_mandarin_forms() -> None:
    # The dialect map is applied before the automaton, so a lexicon word holding a dialect form would never
    # be found: every keyword, co-occurrence term, generic, block and cue word is written in Mandarin form.
    lexicon = load_lexicon()
    words = set(lexicon.vocabulary())
    for name in ("negation", "soft", "skip", "done", "pending", "hypothetical", "elsewhere", "laughter"):
        words |= getattr(lexicon.cues, name)
    forms = lexicon.dialect.forms
    assert len(forms) > 50
    assert not [(word, form) for word in words for form in forms if form in word]


def test_community_file_adds_replaces_and_removes_dialect_forms(tmp_path: Path) -> None:
    community = _write(
        tmp_path,
        "community.toml",
        """
[dialect]
remove = ["咁"]

[dialect.words]
"靓仔" = "小伙子"
"唔该" = "谢谢"
""",
    )
    shipped = IntentEngine.load()
    engine = IntentEngine.load([community])
    assert shipped.prepare("唔该物业") == "麻烦物业"
    assert engine.prepare("唔该物业") == "谢谢物业"  # replaced
    assert engine.prepare("咁靓仔") == "咁小伙子"  # 咁 removed, 靓仔 added
    assert shipped.prepare("咁靓仔") == "这么靓仔"
    assert engine.prepare("唔该晒") == "谢谢"  # the shipped longer form still wins


def test_yaml_community_file_with_dialect_forms(tmp_path: Path) -> None:
    community = _write(tmp_path, "community.yaml", "dialect:\n  words:\n    靓仔: 小伙子\n")
    assert IntentEngine.load([community]).prepare("个靓仔") == "个小伙子"
    bad = _write(tmp_path, "bad.yaml", "dialect:\n  words:\n    靓仔: 3\n")
    with pytest.raises(LexiconError, match="must be a string") as caught:
        load_lexicon([bad])
    assert caught.value.entry == "dialect.words.靓仔"
