"""Patrols: parsing a rota command and the wording of schedules (no database)."""

from __future__ import annotations

import pytest

from bot.config import DEMO_DIRECTORY
from handlers.notices import NoticeError
from handlers.patrols import buildings_text, parse_rota, weekday_names
from storage.directory import DirectoryError, parse_directory
from storage.models import Unit
from storage.patrols import PatrolKind
from storage.roles import UnitKind


def test_a_daily_rota() -> None:
    order = parse_rota("刘秀英 5-7号楼 周一三五 上午")
    assert (order.patroller, order.scope, order.weekdays) == ("刘秀英", ["5-7号楼"], [0, 2, 4])
    assert order.period == "上午" and order.kind == PatrolKind.DAILY


def test_a_special_rota() -> None:
    order = parse_rota("高磊 5号楼 6号楼 周四 下午 消防专项检查")
    assert order.scope == ["5号楼", "6号楼"] and order.weekdays == [3]
    assert order.kind == PatrolKind.FIRE and order.period == "下午"
    assert parse_rota("高磊 8号楼 每天 食品").weekdays == list(range(7))


@pytest.mark.parametrize(("args", "message"), [("高磊", "请这样写"), ("高磊 5号楼 上午", "哪几天")])
def test_bad_rotas(args: str, message: str) -> None:
    with pytest.raises(NoticeError, match=message):
        parse_rota(args)


def test_wording() -> None:
    assert weekday_names([0, 2, 4]) == "周一、周三、周五"
    assert weekday_names(list(range(7))) == "每天"
    units = [Unit(kind=UnitKind.BUILDING, name=f"{n}号楼") for n in (5, 6, 7)]
    assert buildings_text(units) == "5-7号楼"
    assert buildings_text(units[:2]) == "5号楼、6号楼"


def with_patrols(*lines: str) -> str:
    text = DEMO_DIRECTORY.read_text(encoding="utf-8")
    anchor = "            - {platform: webchat, id: grid-2, name: 第二网格工作群}\n"
    return text.replace(
        anchor, anchor + "          patrols:\n" + "".join(f"            - {x}\n" for x in lines)
    )


def test_directory_patrols_name_persons_and_buildings_of_their_grid() -> None:
    with pytest.raises(DirectoryError) as raised:
        parse_directory(with_patrols("{person: nobody, buildings: [5号楼, 1号楼], days: [mon]}"))
    assert "grids[1].patrols[0].person: no person with id 'nobody'" in str(raised.value)
    assert "patrols[0].buildings[1]: '1号楼' is not a building of 第二网格" in str(raised.value)
    with pytest.raises(DirectoryError, match="days"):
        parse_directory(with_patrols("{person: gao-lei, buildings: [8号楼], days: [someday]}"))

    directory = parse_directory(
        with_patrols("{person: gao-lei, buildings: [8号楼], days: [thu], kind: fire}")
    )
    grid = next(entry for entry in directory.units() if entry.name == "第二网格")
    (patrol,) = grid.spec.details()["patrols"]
    assert patrol == {
        "person": "gao-lei",
        "buildings": ["8号楼"],
        "days": ["thu"],
        "time": "上午",
        "kind": "fire",
    }
