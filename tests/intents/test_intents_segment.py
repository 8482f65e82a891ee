"""The segmenter follows jieba's maximum-probability path exactly, and its cache round-trips."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from intents.segment import Segmenter, prune_caches

SENTENCES = [
    "楼道灯坏了好几天了晚上黑乎乎的一直没人修",
    "停电动车的地方在哪",
    "电梯没有坏是有人按住了门",
    "是不是燃气泄漏了大家别开火",
    "楼上半夜还在剁肉吵得睡不着",
    "我家热水器坏了谁有靠谱师傅的电话",
]


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("jieba-cache")


def test_same_path_as_jieba(cache: Path) -> None:
    segmenter = Segmenter(["飞线充电", "楼道灯"], cache_dir=cache)
    tokenizer = segmenter.tokenizer()
    for sentence in SENTENCES:
        assert segmenter.cut(sentence) == tokenizer.lcut(sentence, HMM=False)
    assert "飞线充电" in segmenter.cut("有人飞线充电")


def test_cache_round_trip(cache: Path) -> None:
    first = Segmenter(["飞线充电", "楼道灯"], cache_dir=cache)
    first.load()
    second = Segmenter(["楼道灯", "飞线充电"], cache_dir=cache)
    assert not second.loaded
    second.load()
    assert second.loaded_from_cache is True
    # A cache hit loads the groups of first characters only as texts need them.
    assert len(second.load()) < 1000
    for sentence in SENTENCES:
        assert second.cut(sentence) == first.cut(sentence)
    assert len(second.full()) > 100_000 and second.full() == first.full()
    assert second.full() == Segmenter(["飞线充电", "楼道灯"], cache_dir=cache).tokenizer().FREQ


def test_offsets_are_absolute(cache: Path) -> None:
    segmenter = Segmenter([], cache_dir=cache)
    text = "哈哈,电梯坏了"
    spans = segmenter.tokens(text, 3, len(text))
    assert spans[0][0] == 3 and spans[-1][1] == len(text)
    assert "".join(text[s:e] for s, e in spans) == "电梯坏了"


def test_only_the_most_recently_used_caches_are_kept(tmp_path: Path) -> None:
    # One ~7 MB cache per lexicon: an edited community lexicon must not leave its old caches behind.
    caches = [tmp_path / f"loudong-intents-jieba-{i:02d}.pkl" for i in range(10)]
    for age, path in enumerate(reversed(caches)):
        path.write_bytes(b"x")
        os.utime(path, (1_000_000 - age, 1_000_000 - age))
    other = tmp_path / "notes.pkl"
    other.write_bytes(b"x")
    removed = prune_caches(tmp_path, keep=8)
    assert sorted(removed) == caches[:2]  # the two least recently used
    assert all(path.exists() for path in caches[2:]) and other.exists()


def test_a_cache_hit_counts_as_use(tmp_path: Path) -> None:
    Segmenter(["楼道灯"], cache_dir=tmp_path).load()
    (path,) = tmp_path.glob("loudong-intents-jieba-*.pkl")
    os.utime(path, (1, 1))
    again = Segmenter(["楼道灯"], cache_dir=tmp_path)
    again.load()
    assert again.loaded_from_cache is True
    assert path.stat().st_mtime > 1  # so a pruning keeps it over caches unused since
