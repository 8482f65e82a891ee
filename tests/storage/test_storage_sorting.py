"""storage.sorting: natural order of names."""

from __future__ import annotations

import pytest

from storage.sorting import chinese_numeral, natural_key


@pytest.mark.parametrize(
    ("numeral", "value"),
    [
        ("一", 1),
        ("十", 10),
        ("十一", 11),
        ("二十", 20),
        ("二十三", 23),
        ("一百零五", 105),
        ("两千", 2000),
        ("一二三", 123),
    ],
)
def test_chinese_numerals(numeral: str, value: int) -> None:
    assert chinese_numeral(numeral) == value


def test_natural_order() -> None:
    names = [
        "10号楼",
        "2号楼",
        "第十网格",
        "第二网格",
        "1号楼",
        "第一网格",
        "第十一网格",
        "第三网格",
        "B栋",
        "a栋",
    ]
    assert sorted(names, key=natural_key) == [
        "1号楼",
        "2号楼",
        "10号楼",
        "a栋",
        "B栋",
        "第一网格",
        "第二网格",
        "第三网格",
        "第十网格",
        "第十一网格",
    ]


def test_numbers_never_compare_with_text() -> None:
    assert sorted(["楼", "1", "一"], key=natural_key) == ["1", "一", "楼"]
