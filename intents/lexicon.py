"""The lexicon: what words mean, as data. Loaded from the TOML file shipped next to this module and from
any number of community files layered on top of it (TOML or YAML, same schema).

Schema (every section optional in a community file)::

    [settings]            threshold, emergency_min_score, negation_window, cooccur_window,
                          generic_problem_weight, steepness, min_hit_chars,
                          leading_courtesy_bonus
    [cues]                negation, soft, skip, done, pending, end, question, hypothetical, drill,
                          elsewhere, here, hearsay, act_now, setting, body_sign, conditional,
                          kin_away (each ending in 在 or 住), kin_near;
                          the markers the classifier and its second opinions read: polite,
                          interjection, danger, symptom, alarm, spark_emphasis, spark_dont,
                          spark_actions, spark_switch_dont, spark_switches, chronic, food, pet, person,
                          stuck, inside,
                          denied_danger, denied_whose, reassurance, contrast, call, cry, summon, laughter,
                          mood, money, joke, advice, figure, figure_modal, simile_open, simile_close, own,
                          own_suffered
                          (lists of literal words; `remove` = [words] drops them from every cue list;
                          [cues.remove] <cue> = [words] from that one; [cues.replace] <cue> = [words]
                          sets a list outright, [] empties it)
    [generic]             problem, resolution, urgent  (words of no single intent; `remove`)
    [block]               words  (a keyword inside one of these is not a keyword: 灯笼, 热水器; `remove`)
    [intents.<label>]     threshold (optional), remove (words or co-occurrence names to drop)
    [[intents.<label>.keywords]]   role, weight, words, loose (skip the word-boundary check),
                                   anchored (only at the start of a clause: 好的 but not 好的月嫂),
                                   whole (only as the whole message: 好)
    [[intents.<label>.cooccur]]    name, objects, signals, weight, window, negatable, urgent, same_clause
    [dialect]             remove (dialect forms to drop)
    [dialect.words]       "<written dialect form>" = "<Mandarin form>"  (咗 = 了, 冇人 = 没人, 掟 = 扔:
                          applied to every message once, after normalisation and before anything else reads
                          it; the longest form at each position wins; a Mandarin form may not contain a
                          dialect form)

Layering: a later file adds words; the same word in the same intent replaces the earlier role and weight;
a co-occurrence rule with the same name replaces the earlier one; settings and thresholds override; a cue
list is replaced by [cues.replace], and a file may not both add to and replace the same cue.
Within one file a word may appear only once per intent. Errors raise `LexiconError` naming the file, the
entry and, where it can be found in the raw text, the line.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from intents.model import Intent, Role
from intents.native import PACKAGE_DIR
from intents.normalize import DialectMap, normalize

# The package's directory, not this file's: a compiled module's __file__ is elsewhere.
DEFAULT_LEXICON_PATH = PACKAGE_DIR / "lexicon.toml"

MAX_WORD_CHARS = 24


class LexiconError(ValueError):
    """A lexicon file that cannot be used. `file`, `entry` (a dotted path such as
    `intents.repair.keywords[2].role`) and `line` (1-based, None if unknown) say where."""

    def __init__(self, file: str, entry: str, message: str, line: int | None = None) -> None:
        self.file = file
        self.entry = entry
        self.line = line
        self.message = message
        where = f"{file}:{line}" if line is not None else file
        super().__init__(f"{where}: {entry}: {message}" if entry else f"{where}: {message}")


@dataclass(frozen=True, slots=True)
class Settings:
    threshold: float = 0.5  # below this confidence the result is chitchat
    emergency_min_score: float = 1.0  # an emergency scoring this much is never suppressed
    negation_window: int = 1  # tokens before a problem word searched for a negation cue (`skip` words free)
    cooccur_window: int = 10  # default characters between a co-occurrence object and signal
    generic_problem_weight: float = 0.8  # weight of a generic problem word (没人修) for a mentioned object
    steepness: float = 1.2  # confidence = (1 - exp(-steepness * score)) * sqrt(score / (score + second))
    min_hit_chars: int = 2  # keywords shorter than this skip the jieba boundary check
    leading_courtesy_bonus: float = 0.5  # a message that opens with thanks or an ack is mostly that


@dataclass(frozen=True, slots=True)
class KeywordRule:
    word: str
    intent: Intent
    role: Role
    weight: float
    loose: bool = False
    anchored: bool = False
    whole: bool = False


@dataclass(frozen=True, slots=True)
class CooccurRule:
    intent: Intent
    name: str
    objects: tuple[str, ...]
    signals: tuple[str, ...]
    weight: float
    window: int
    negatable: bool = True
    urgent: bool = False
    same_clause: bool = True  # object and signal may not be separated by punctuation


@dataclass(frozen=True, slots=True)
class Cues:
    negation: frozenset[str] = frozenset()
    soft: frozenset[str] = frozenset()
    skip: frozenset[str] = frozenset()
    done: frozenset[str] = frozenset()
    pending: frozenset[str] = frozenset()
    end: frozenset[str] = frozenset()
    question: frozenset[str] = frozenset()
    # Before an urgent word anywhere earlier in its clause: it has not happened (万一孩子掉进水池).
    hypothetical: frozenset[str] = frozenset()
    # Anywhere in the message: it is about practice or education, not an event (消防演练, 急救培训).
    drill: frozenset[str] = frozenset()
    # Before a problem word in its clause: it happened in a video, the news or another compound, not here
    # (抖音上, 微博上看到, 外地一个小区).
    elsewhere: frozenset[str] = frozenset()
    # After an elsewhere cue in a message's first clause: the story is back here (咱楼上, 我们小区), so the
    # cue no longer governs this clause and those after it.
    here: frozenset[str] = frozenset()
    # Hearsay (听说, 据说), a hypothetical and an elsewhere cue, is neither in a message that calls to act now
    # (快去, 赶紧: `act_now`): 听说3号楼着火了 快去看看.
    hearsay: frozenset[str] = frozenset()
    act_now: frozenset[str] = frozenset()
    # A drill cue that tells the setting of an event (玩游戏, 打游戏: `setting`) is none when a sudden body
    # sign (抽过去, 口吐白沫: `body_sign`) follows it (孩子玩游戏的时候突然抽过去了).
    setting: frozenset[str] = frozenset()
    body_sign: frozenset[str] = frozenset()
    # Before any problem word in its clause: it is supposed, not reported (万一有人高空抛物, 要是电动车在楼道
    # 着火了). Narrower than `hypothetical`, whose past and hearsay cues reach urgent words only.
    conditional: frozenset[str] = frozenset()
    # A relative's home elsewhere (我姐住镇江, 表哥在江门个小区): a relative of the writer's + 在 or
    # 住, then a place that is not here (not one of `kin_near` or `here`). It negates problem words only,
    # never an emergency word, and is no elsewhere cue for the emergency guards (`IntentEngine._kin_hits`).
    kin_away: frozenset[str] = frozenset()
    kin_near: frozenset[str] = frozenset()
    # The markers the classifier and its second opinions read (intents/engine.py builds its patterns from
    # them once, at load; the "why" of each is next to its words in lexicon.toml).
    polite: frozenset[str] = frozenset()  # after a conditional cue: a politeness (如果方便)
    interjection: frozenset[str] = frozenset()  # single characters before an anchored word (嗯嗯好的)
    danger: frozenset[str] = frozenset()  # open the emergency model's gate (烟, 火, 晕)
    symptom: frozenset[str] = frozenset()  # acute symptoms told (抬不起, 说不清)
    alarm: frozenset[str] = frozenset()  # alarm signs (头晕, 臭鸡蛋)
    spark_emphasis: frozenset[str] = frozenset()  # advice against a spark: 千万 / 先 …
    spark_dont: frozenset[str] = frozenset()  # … 别 / 不要 …
    spark_actions: frozenset[str] = frozenset()  # … 按门铃 / 打火
    spark_switch_dont: frozenset[str] = frozenset()  # a light switch only with emphasis: 千万 别 …
    spark_switches: frozenset[str] = frozenset()  # … 开灯
    chronic: frozenset[str] = frozenset()  # chronic ailments (肩周炎)
    food: frozenset[str] = frozenset()  # benign causes: spice, hotpot, diets (辣得)
    pet: frozenset[str] = frozenset()  # benign subjects: a pet (猫) …
    person: frozenset[str] = frozenset()  # … unless a person is named (孩)
    stuck: frozenset[str] = frozenset()  # an object stuck (按钮卡住了): no one trapped …
    inside: frozenset[str] = frozenset()  # … unless someone is named or said to be inside (在里面)
    denied_danger: frozenset[str] = frozenset()  # after 不是 (not 是不是): the danger denied (不是燃气)
    denied_whose: frozenset[str] = frozenset()  # between 不是 and the danger (不是哪家漏气)
    reassurance: frozenset[str] = frozenset()  # the danger denied (别担心)
    contrast: frozenset[str] = frozenset()  # after thanks, a new matter (谢谢物业,不过 …)
    call: frozenset[str] = frozenset()  # a call for help (咋办, 快来)
    cry: frozenset[str] = frozenset()  # cries for help that are also figures of speech (救命)
    summon: frozenset[str] = frozenset()  # an ambulance or the police called for now (快叫救护车)
    laughter: frozenset[str] = frozenset()  # laughter (哈哈, 笑死, 😂)
    mood: frozenset[str] = frozenset()  # a laughter word ending one of these is a mood, no laughter (笑哈哈)
    money: frozenset[str] = frozenset()  # bills and money (账单)
    joke: frozenset[str] = frozenset()  # with laughter: a joke, an exaggeration, a sale (打折)
    advice: frozenset[str] = frozenset()  # after a supposition: advice on what to do (得赶紧)
    figure: frozenset[str] = frozenset()  # a figure of speech: a degree of heat or temper (热得, 气得) …
    figure_modal: frozenset[str] = frozenset()  # … then "about to" or "like" before the danger (要, 快, 像)
    simile_open: frozenset[str] = frozenset()  # a simile around the danger word: 像 …
    simile_close: frozenset[str] = frozenset()  # … 一样 / 似的
    own: frozenset[str] = frozenset()  # one's own household as a noise's source (我家俩小子, 我家猫) …
    own_suffered: frozenset[str] = frozenset()  # … unless it suffers the noise (被, 睡不着)


@dataclass(frozen=True)
class Lexicon:
    settings: Settings
    keywords: Mapping[str, tuple[KeywordRule, ...]]  # word -> its rules (one per intent)
    cooccur: tuple[CooccurRule, ...]
    generic: Mapping[str, Role]  # word -> problem / resolution / urgent
    block: frozenset[str]
    cues: Cues
    thresholds: Mapping[Intent, float]
    sources: tuple[str, ...] = ()
    # Written dialect forms and their Mandarin forms (`[dialect]`), applied before anything reads a message.
    dialect: DialectMap = field(default_factory=lambda: DialectMap({}))

    def vocabulary(self) -> frozenset[str]:
        """Every word the pre-filter looks for (keywords, co-occurrence terms, generic and block words)."""
        words: set[str] = set(self.keywords) | set(self.generic) | set(self.block)
        for rule in self.cooccur:
            words.update(rule.objects)
            words.update(rule.signals)
        return frozenset(words)

    def threshold(self, intent: Intent) -> float:
        return self.thresholds.get(intent, self.settings.threshold)

    def prepare(self, text: str) -> str:
        """The text the engine and its models read: normalised, with the dialect map applied (as
        `IntentEngine.prepare`; the trainers use this, so that training reads what classification does)."""
        return self.dialect.apply(normalize(text))


# --------------------------------------------------------------------------------------------- loading

_SETTINGS_TYPES: dict[str, type] = {
    "threshold": float,
    "emergency_min_score": float,
    "negation_window": int,
    "cooccur_window": int,
    "generic_problem_weight": float,
    "steepness": float,
    "min_hit_chars": int,
    "leading_courtesy_bonus": float,
}
# The [cues] keys are the fields of `Cues`, in their order.
_CUE_NAMES = tuple(f.name for f in fields(Cues))
# Cue lists of single characters (the classifier looks them up one character at a time).
_SINGLE_CHAR_CUES = frozenset({"interjection"})
# The verbs a `kin_away` cue ends in (a relative lives in or is in a place; 喺 is 在 by the dialect map).
_KIN_VERBS = frozenset("在住")
_GENERIC_ROLES = {"problem": Role.PROBLEM, "resolution": Role.RESOLUTION, "urgent": Role.URGENT}
_KEYWORD_KEYS = {"role", "weight", "words", "loose", "anchored", "whole"}
_COOCCUR_KEYS = {"name", "objects", "signals", "weight", "window", "negatable", "urgent", "same_clause"}
_TOP_KEYS = {"settings", "cues", "generic", "block", "intents", "meta", "dialect"}
_DEFAULT_WEIGHTS = {
    Role.OBJECT: 0.4,
    Role.PROBLEM: 1.0,
    Role.RESOLUTION: 0.0,
    Role.COURTESY: 1.0,
    Role.URGENT: 1.5,
}


@dataclass
class _Builder:
    settings: dict[str, Any] = field(default_factory=dict)
    keywords: dict[tuple[Intent, str], KeywordRule] = field(default_factory=dict)
    cooccur: dict[tuple[Intent, str], CooccurRule] = field(default_factory=dict)
    generic: dict[str, Role] = field(default_factory=dict)
    block: set[str] = field(default_factory=set)
    cues: dict[str, set[str]] = field(default_factory=lambda: {name: set() for name in _CUE_NAMES})
    thresholds: dict[Intent, float] = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)
    # dialect form -> (Mandarin form, the file that set it)
    dialect: dict[str, tuple[str, _File]] = field(default_factory=dict)

    def _mandarin_words(self) -> set[str]:
        """Every word of the lexicon (in Mandarin form): which characters are common, for the dialect
        map's gate (`DialectMap`)."""
        words: set[str] = {word for _, word in self.keywords} | set(self.generic) | set(self.block)
        for rule in self.cooccur.values():
            words.update(rule.objects)
            words.update(rule.signals)
        for cue in self.cues.values():
            words.update(cue)
        return words

    def build(self) -> Lexicon:
        forms = {form: mandarin for form, (mandarin, _) in self.dialect.items()}
        for form, (mandarin, file) in self.dialect.items():
            for other in forms:
                if other in mandarin:
                    raise file.error(
                        f"dialect.words.{form}",
                        f"its Mandarin form {mandarin!r} contains the dialect form {other!r}, which would be"
                        " mapped again",
                        value=form,
                    )
        by_word: dict[str, list[KeywordRule]] = {}
        for rule in self.keywords.values():
            by_word.setdefault(rule.word, []).append(rule)
        return Lexicon(
            settings=Settings(**self.settings),
            keywords={word: tuple(rules) for word, rules in by_word.items()},
            cooccur=tuple(self.cooccur.values()),
            generic=dict(self.generic),
            block=frozenset(self.block),
            cues=Cues(**{name: frozenset(words) for name, words in self.cues.items()}),
            thresholds=dict(self.thresholds),
            sources=tuple(self.sources),
            dialect=DialectMap(forms, common=self._mandarin_words()),
        )


class _File:
    """One lexicon file being applied; knows how to point at an entry in its raw text."""

    def __init__(self, path: Path, raw: str) -> None:
        self.path = path
        self.name = str(path)
        self.raw = raw
        self.is_toml = path.suffix.lower() == ".toml"

    def error(self, entry: str, message: str, *, value: object = None) -> LexiconError:
        return LexiconError(self.name, entry, message, self._line(entry, value))

    def _line(self, entry: str, value: object) -> int | None:
        """Best effort: walk the entry's path through the raw text (table headers, keys, the n-th array
        element), then look for the offending value after it."""
        raw = self.raw
        parts = re.findall(r"[^.\[\]]+|\[\d+\]", entry)
        start = 0
        found = False
        path: list[str] = []
        section = 0  # where the current table's text begins (array elements are counted from here)
        for part in parts:
            if part.startswith("["):
                index = int(part[1:-1])
                table = re.escape(".".join(path))
                header = rf"^\s*\[\[\s*{table}\s*\]\]" if self.is_toml else r"^[\s-]*-\s"
                matches = list(re.finditer(header, raw[section:], re.MULTILINE))
                if index < len(matches):
                    start = section + matches[index].start()
                    section = start + 1
                    found = True
                continue
            path.append(part)
            if self.is_toml:
                header = rf"^\s*\[\[?\s*{re.escape('.'.join(path))}\s*\]\]?\s*$"
                match = re.search(header, raw, re.MULTILINE)
                if match:
                    start = section = match.start()
                    found = True
                    continue
            key = re.search(rf"^[\s-]*{re.escape(part)}\s*[=:]", raw[start:], re.MULTILINE)
            if key:
                start += key.start()
                section = start
                found = True
        pos = -1
        if isinstance(value, str) and value:
            for quoted in (f'"{value}"', f"'{value}'", value):
                pos = raw.find(quoted, start)
                if pos >= 0:
                    break
        if pos < 0 and found:
            pos = start
        return None if pos < 0 else raw.count("\n", 0, pos) + 1


def _parse(path: Path) -> tuple[_File, dict[str, Any]]:
    try:
        raw = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LexiconError(str(path), "", f"cannot read lexicon file: {exc}") from exc
    file = _File(path, raw)
    suffix = path.suffix.lower()
    if suffix == ".toml":
        try:
            data: Any = tomllib.loads(raw)
        except tomllib.TOMLDecodeError as exc:
            match = re.search(r"line (\d+)", str(exc))
            raise LexiconError(
                file.name, "", f"invalid TOML: {exc}", int(match.group(1)) if match else None
            ) from exc
    elif suffix in (".yaml", ".yml"):
        import yaml  # only community files in YAML need it

        try:
            data = yaml.safe_load(raw)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            raise LexiconError(
                file.name, "", f"invalid YAML: {exc}", mark.line + 1 if mark is not None else None
            ) from exc
        if data is None:
            data = {}
    else:
        raise LexiconError(file.name, "", "a lexicon file must end in .toml, .yaml or .yml")
    if not isinstance(data, dict):
        raise LexiconError(file.name, "", "the top level must be a table/mapping")
    return file, data


def _table(file: _File, value: Any, entry: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise file.error(entry, f"must be a table/mapping, not {type(value).__name__}")
    return value


def _unknown_keys(file: _File, data: Mapping[str, Any], allowed: Iterable[str], entry: str) -> None:
    for key in data:
        if key not in allowed:
            where = f"{entry}.{key}" if entry else key
            raise file.error(where, f"unknown key {key!r} (allowed: {', '.join(sorted(allowed))})")


def _number(file: _File, value: Any, entry: str, kind: type, low: float, high: float) -> float | int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise file.error(entry, f"must be a number, not {value!r}")
    if kind is int and not isinstance(value, int):
        raise file.error(entry, f"must be an integer, not {value!r}")
    if not math.isfinite(value) or not low <= value <= high:
        raise file.error(entry, f"must be between {low} and {high}, not {value!r}")
    return kind(value)


def _bool(file: _File, value: Any, entry: str) -> bool:
    if not isinstance(value, bool):
        raise file.error(entry, f"must be true or false, not {value!r}")
    return value


def _words(file: _File, value: Any, entry: str, *, allow_empty: bool = False) -> list[str]:
    if not isinstance(value, list):
        raise file.error(entry, f"must be a list of words, not {type(value).__name__}")
    if not value and not allow_empty:
        raise file.error(entry, "must not be empty")
    words: list[str] = []
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise file.error(f"{entry}[{i}]", f"must be a string, not {item!r}", value=str(item))
        word = normalize(item)
        if not word:
            raise file.error(f"{entry}[{i}]", f"word {item!r} is empty after normalisation", value=item)
        if len(word) > MAX_WORD_CHARS:
            raise file.error(f"{entry}[{i}]", f"word {item!r} is longer than {MAX_WORD_CHARS}", value=item)
        words.append(word)
    return words


def _intent(file: _File, name: str, entry: str) -> Intent:
    try:
        intent = Intent(name)
    except ValueError:
        raise file.error(entry, f"unknown intent {name!r} (one of: {', '.join(Intent)})") from None
    if intent is Intent.CHITCHAT:
        raise file.error(entry, "chitchat has no keywords: it is what is left when nothing matches")
    return intent


def _apply(builder: _Builder, file: _File, data: Mapping[str, Any]) -> None:
    _unknown_keys(file, data, _TOP_KEYS, "")

    if "settings" in data:
        settings = _table(file, data["settings"], "settings")
        _unknown_keys(file, settings, _SETTINGS_TYPES, "settings")
        for key, value in settings.items():
            kind = _SETTINGS_TYPES[key]
            high = 1.0 if key == "threshold" else 1000.0
            builder.settings[key] = _number(file, value, f"settings.{key}", kind, 0, high)

    if "cues" in data:
        _apply_cues(builder, file, _table(file, data["cues"], "cues"))

    if "generic" in data:
        generic = _table(file, data["generic"], "generic")
        _unknown_keys(file, generic, (*_GENERIC_ROLES, "remove"), "generic")
        seen: dict[str, str] = {}
        for name, role in _GENERIC_ROLES.items():
            for i, word in enumerate(
                _words(file, generic.get(name, []), f"generic.{name}", allow_empty=True)
            ):
                if word in seen:
                    raise file.error(
                        f"generic.{name}[{i}]",
                        f"{word!r} is already listed under generic.{seen[word]}",
                        value=word,
                    )
                seen[word] = name
                builder.generic[word] = role
        for word in _words(file, generic.get("remove", []), "generic.remove", allow_empty=True):
            builder.generic.pop(word, None)

    if "block" in data:
        block = _table(file, data["block"], "block")
        _unknown_keys(file, block, ("words", "remove"), "block")
        builder.block.update(_words(file, block.get("words", []), "block.words", allow_empty=True))
        builder.block.difference_update(
            _words(file, block.get("remove", []), "block.remove", allow_empty=True)
        )

    if "dialect" in data:
        _apply_dialect(builder, file, _table(file, data["dialect"], "dialect"))

    if "intents" in data:
        intents = _table(file, data["intents"], "intents")
        for name, body in intents.items():
            _apply_intent(builder, file, _intent(file, str(name), f"intents.{name}"), body)


def _apply_dialect(builder: _Builder, file: _File, dialect: Mapping[str, Any]) -> None:
    """A file's [dialect]: `remove` drops forms set by earlier files, then [dialect.words] adds or replaces
    forms (a form's Mandarin form is checked against every form once all files are read: `_Builder.build`)."""
    _unknown_keys(file, dialect, ("words", "remove"), "dialect")
    for word in _words(file, dialect.get("remove", []), "dialect.remove", allow_empty=True):
        builder.dialect.pop(word, None)
    words = _table(file, dialect.get("words", {}), "dialect.words")
    seen: dict[str, str] = {}
    for key, value in words.items():
        entry = f"dialect.words.{key}"
        if not isinstance(key, str):
            raise file.error(entry, f"a dialect form must be a string, not {key!r}")
        form = normalize(key)
        if not form:
            raise file.error(entry, f"dialect form {key!r} is empty after normalisation", value=key)
        if len(form) > MAX_WORD_CHARS:
            raise file.error(entry, f"dialect form {key!r} is longer than {MAX_WORD_CHARS}", value=key)
        if form in seen:
            raise file.error(entry, f"dialect form {key!r} is the same as {seen[form]!r}", value=key)
        seen[form] = key
        if not isinstance(value, str):
            raise file.error(entry, f"its Mandarin form must be a string, not {value!r}", value=key)
        mandarin = normalize(value)
        if not mandarin:
            raise file.error(entry, f"the Mandarin form of {key!r} is empty", value=key)
        if len(mandarin) > MAX_WORD_CHARS:
            raise file.error(entry, f"the Mandarin form {value!r} is longer than {MAX_WORD_CHARS}", value=key)
        if mandarin == form:
            raise file.error(entry, f"{key!r} is mapped to itself", value=key)
        builder.dialect[form] = (mandarin, file)


def _cue_words(file: _File, value: Any, name: str, entry: str, *, allow_empty: bool = False) -> list[str]:
    """The words of cue `name` (literal words: a `|` is a regex habit, not a word)."""
    words = _words(file, value, entry, allow_empty=allow_empty)
    for i, word in enumerate(words):
        if "|" in word:
            raise file.error(
                f"{entry}[{i}]",
                f"word {word!r} contains '|': cue words are literal, list each word as its own string",
                value=value[i],
            )
        if name in _SINGLE_CHAR_CUES and len(word) != 1:
            raise file.error(f"{entry}[{i}]", f"{word!r} is not a single character", value=value[i])
        if name == "kin_away" and (len(word) < 2 or word[-1] not in _KIN_VERBS):
            raise file.error(
                f"{entry}[{i}]",
                f"{word!r} is not a relative followed by 在 or 住 (表姐在, 我姐住)",
                value=value[i],
            )
    return words


def _apply_cues(builder: _Builder, file: _File, cues: Mapping[str, Any]) -> None:
    """A file's [cues]: replace ([cues.replace]), then add, then remove (`remove`: from every list;
    [cues.remove]: from the lists named)."""
    _unknown_keys(file, cues, (*_CUE_NAMES, "remove", "replace"), "cues")
    if "replace" in cues:
        replace = _table(file, cues["replace"], "cues.replace")
        _unknown_keys(file, replace, _CUE_NAMES, "cues.replace")
        for name, value in replace.items():
            if name in cues:
                raise file.error(
                    f"cues.{name}",
                    f"both added to and replaced (cues.replace.{name}) in one file: list every word under "
                    f"cues.replace.{name}",
                )
            builder.cues[name] = set(_cue_words(file, value, name, f"cues.replace.{name}", allow_empty=True))
    for name in _CUE_NAMES:
        if name in cues:
            builder.cues[name].update(_cue_words(file, cues[name], name, f"cues.{name}"))
    remove = cues.get("remove", [])
    if isinstance(remove, dict):
        _unknown_keys(file, remove, _CUE_NAMES, "cues.remove")
        for name, value in remove.items():
            builder.cues[name].difference_update(_words(file, value, f"cues.remove.{name}", allow_empty=True))
    else:
        for word in _words(file, remove, "cues.remove", allow_empty=True):
            for words in builder.cues.values():
                words.discard(word)


def _apply_intent(builder: _Builder, file: _File, intent: Intent, body: Any) -> None:
    base = f"intents.{intent}"
    body = _table(file, body, base)
    _unknown_keys(file, body, ("threshold", "remove", "keywords", "cooccur"), base)
    if "threshold" in body:
        builder.thresholds[intent] = float(_number(file, body["threshold"], f"{base}.threshold", float, 0, 1))
    for word in _words(file, body.get("remove", []), f"{base}.remove", allow_empty=True):
        builder.keywords.pop((intent, word), None)
        builder.cooccur.pop((intent, word), None)

    keywords = body.get("keywords", [])
    if not isinstance(keywords, list):
        raise file.error(f"{base}.keywords", "must be an array of tables ([[...keywords]])")
    in_this_file: set[str] = set()
    for i, group in enumerate(keywords):
        entry = f"{base}.keywords[{i}]"
        group = _table(file, group, entry)
        _unknown_keys(file, group, _KEYWORD_KEYS, entry)
        if "role" not in group:
            raise file.error(entry, "missing 'role'")
        try:
            role = Role(group["role"])
        except ValueError:
            raise file.error(
                f"{entry}.role",
                f"unknown role {group['role']!r} (one of: {', '.join(Role)})",
                value=group["role"],
            ) from None
        if "words" not in group:
            raise file.error(entry, "missing 'words'")
        weight = (
            float(_number(file, group["weight"], f"{entry}.weight", float, 0, 10))
            if "weight" in group
            else _DEFAULT_WEIGHTS[role]
        )
        loose = _bool(file, group["loose"], f"{entry}.loose") if "loose" in group else False
        anchored = _bool(file, group["anchored"], f"{entry}.anchored") if "anchored" in group else False
        whole = _bool(file, group["whole"], f"{entry}.whole") if "whole" in group else False
        for j, word in enumerate(_words(file, group["words"], f"{entry}.words")):
            if word in in_this_file:
                raise file.error(f"{entry}.words[{j}]", f"{word!r} is listed twice for {intent}", value=word)
            in_this_file.add(word)
            builder.keywords[(intent, word)] = KeywordRule(word, intent, role, weight, loose, anchored, whole)

    rules = body.get("cooccur", [])
    if not isinstance(rules, list):
        raise file.error(f"{base}.cooccur", "must be an array of tables ([[...cooccur]])")
    names: set[str] = set()
    for i, rule in enumerate(rules):
        entry = f"{base}.cooccur[{i}]"
        rule = _table(file, rule, entry)
        _unknown_keys(file, rule, _COOCCUR_KEYS, entry)
        for key in ("name", "objects", "signals", "weight"):
            if key not in rule:
                raise file.error(entry, f"missing {key!r}")
        name = rule["name"]
        if not isinstance(name, str) or not name:
            raise file.error(f"{entry}.name", "must be a non-empty string")
        if name in names:
            raise file.error(f"{entry}.name", f"co-occurrence rule {name!r} is defined twice", value=name)
        names.add(name)
        window = builder.settings.get("cooccur_window", Settings().cooccur_window)
        builder.cooccur[(intent, name)] = CooccurRule(
            intent=intent,
            name=name,
            objects=tuple(_words(file, rule["objects"], f"{entry}.objects")),
            signals=tuple(_words(file, rule["signals"], f"{entry}.signals")),
            weight=float(_number(file, rule["weight"], f"{entry}.weight", float, 0, 10)),
            window=int(_number(file, rule["window"], f"{entry}.window", int, 1, 200))
            if "window" in rule
            else window,
            negatable=_bool(file, rule["negatable"], f"{entry}.negatable") if "negatable" in rule else True,
            urgent=_bool(file, rule["urgent"], f"{entry}.urgent") if "urgent" in rule else False,
            same_clause=_bool(file, rule["same_clause"], f"{entry}.same_clause")
            if "same_clause" in rule
            else True,
        )


def load_lexicon(paths: Sequence[str | Path] = (), *, include_default: bool = True) -> Lexicon:
    """Load the shipped lexicon (unless `include_default` is false) and layer `paths` on it, in order."""
    builder = _Builder()
    files = ([DEFAULT_LEXICON_PATH] if include_default else []) + [Path(p) for p in paths]
    if not files:
        raise LexiconError("<none>", "", "no lexicon file given")
    for path in files:
        file, data = _parse(path)
        _apply(builder, file, data)
        builder.sources.append(str(path))
    try:
        return builder.build()
    except TypeError as exc:  # pragma: no cover - settings keys are validated above
        raise LexiconError(str(files[-1]), "settings", str(exc)) from exc
