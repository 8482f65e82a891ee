"""storage.directory: the file format and its error messages, import and re-import, the snapshot."""

from __future__ import annotations

import json
import re
import textwrap
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from storage import repos
from storage.directory import (
    DirectoryError,
    DirectoryFile,
    directory_snapshot,
    import_directory,
    load_directory,
    mask_phone,
    parse_directory,
    render_loc,
)
from storage.models import Account, Group, Person, Unit
from storage.roles import Role, UnitKind

SMALL = """\
street:
  name: 测试街道
  communities:
    - name: 测试社区
      grids:
        - name: 第一网格
          micro_grids:
            - name: 一号微网格
              buildings:
                - name: 1号楼
                  households: 24
                  groups:
                    - {platform: webchat, id: b1, name: 1号楼居民群}
persons:
  - id: li-fang
    name: 李芳
    role: micro_grid_leader
    unit: 一号微网格
    accounts:
      - {platform: webchat, id: li-fang}
"""


def write(tmp_path: Path, content: str) -> Path:
    path = tmp_path / "community.yaml"
    path.write_text(textwrap.dedent(content), encoding="utf-8")
    return path


def line_of(content: str, needle: str, occurrence: int = 1) -> int:
    """1-based line of the n-th line containing `needle`."""
    hits = [number for number, line in enumerate(textwrap.dedent(content).splitlines(), 1) if needle in line]
    return hits[occurrence - 1]


def load_error(tmp_path: Path, content: str) -> DirectoryError:
    path = write(tmp_path, content)
    with pytest.raises(DirectoryError) as caught:
        load_directory(path)
    assert str(path) in str(caught.value)
    return caught.value


def assert_problem(error: DirectoryError, path: str, line: int, message: str) -> None:
    """The error names the key path and the line, in the problem and in the exception's message."""
    matching = [problem for problem in error.problems if problem.path == path]
    assert matching, f"no problem at {path}: {error}"
    assert matching[0].line == line, str(error)
    assert re.search(message, matching[0].message), str(error)
    assert f"line {line}: {path}: " in str(error)


# ---------------------------------------------------------------------------------------------------
# Loading


def test_the_demo_directory_validates(demo_directory: DirectoryFile) -> None:
    kinds = Counter(entry.kind for entry in demo_directory.units())
    assert kinds == {
        UnitKind.STREET: 1,
        UnitKind.COMMUNITY: 1,
        UnitKind.GRID: 5,
        UnitKind.MICRO_GRID: 10,
        UnitKind.BUILDING: 20,
    }
    roles = Counter(person.role for person in demo_directory.persons)
    assert roles[Role.MICRO_GRID_LEADER] == 10
    assert roles[Role.GRID_LEADER] == 5
    assert roles[Role.POLICE] == 1
    assert all(person.accounts[0].platform == "webchat" for person in demo_directory.persons)


def test_a_small_file_loads(tmp_path: Path) -> None:
    directory = load_directory(write(tmp_path, SMALL))
    building = next(entry for entry in directory.units() if entry.kind == UnitKind.BUILDING)
    assert building.path == ("测试街道", "测试社区", "第一网格", "一号微网格", "1号楼")
    assert directory.persons[0].role is Role.MICRO_GRID_LEADER


def test_numbers_ids_and_chinese_role_labels_are_accepted(tmp_path: Path) -> None:
    content = SMALL.replace(
        "{platform: webchat, id: b1, name: 1号楼居民群}", "{platform: onebot, id: 731000001}"
    )
    content = content.replace(
        "                  groups:\n",
        "                  groups:\n                    - {platform: webchat, id: b1}\n",
    )
    content = content.replace("role: micro_grid_leader", "role: 微网格长") + "    phone: 13812345678\n"
    content = content.replace("{platform: webchat, id: li-fang}", "{platform: WebChat, id: li-fang}")
    directory = load_directory(write(tmp_path, content))
    building = next(entry for entry in directory.units() if entry.kind == UnitKind.BUILDING)
    assert [group.id for group in building.spec.groups] == ["b1", "731000001"]
    assert directory.persons[0].role is Role.MICRO_GRID_LEADER
    assert directory.persons[0].phone == "13812345678"
    assert directory.persons[0].accounts[0].platform == "webchat"


def test_layout_gives_households(tmp_path: Path) -> None:
    content = SMALL.replace("households: 24", "layout: {units: 2, floors: 6, per_floor: 3}")
    directory = load_directory(write(tmp_path, content))
    building = next(entry for entry in directory.units() if entry.kind == UnitKind.BUILDING)
    assert building.spec.details() == {"households": 36, "layout": {"units": 2, "floors": 6, "per_floor": 3}}


def test_units_resolve_by_name_or_path(demo_directory: DirectoryFile) -> None:
    assert [e.path[-1] for e in demo_directory.resolve_unit("第一网格1号微网格")] == ["第一网格1号微网格"]
    assert [e.path[-1] for e in demo_directory.resolve_unit("茜城花园社区/第一网格")] == ["第一网格"]
    assert [e.path[-1] for e in demo_directory.resolve_unit(" 第一网格 / 第一网格1号微网格 / 1号楼 ")] == [
        "1号楼"
    ]
    assert demo_directory.resolve_unit("第二网格/1号楼") == []


def test_a_yaml_syntax_error_reports_yamls_line(tmp_path: Path) -> None:
    content = SMALL.replace("    name: 李芳", "    name: [李芳")
    error = load_error(tmp_path, content)
    assert len(error.problems) == 1
    assert "YAML syntax error" in str(error)
    # yaml notices the unclosed bracket where the flow sequence runs into the next key
    assert error.problems[0].line is not None
    assert line_of(content, "[李芳") <= error.problems[0].line <= line_of(content, "[李芳") + 2
    assert f"line {error.problems[0].line}" in str(error)


def test_bad_indentation_is_a_syntax_error_with_its_line(tmp_path: Path) -> None:
    content = SMALL.replace("    role: micro_grid_leader", "   role: micro_grid_leader")
    error = load_error(tmp_path, content)
    assert error.problems[0].line == line_of(content, "role: micro_grid_leader")


def test_an_empty_file_is_an_error(tmp_path: Path) -> None:
    error = load_error(tmp_path, "# nothing here\n")
    assert "empty" in str(error)


def test_unknown_key(tmp_path: Path) -> None:
    content = SMALL.replace("      grids:", "      grid:")
    error = load_error(tmp_path, content)
    assert_problem(
        error, "street.communities[0].grid", line_of(content, "grid:"), "unknown key 'grid'.*'grids'"
    )


def test_unknown_key_on_a_person(tmp_path: Path) -> None:
    content = SMALL + "    mobile: '13800000000'\n"
    error = load_error(tmp_path, content)
    assert_problem(error, "persons[0].mobile", line_of(content, "mobile:"), "unknown key 'mobile'")


def test_bad_role(tmp_path: Path) -> None:
    content = SMALL.replace("role: micro_grid_leader", "role: mayor")
    error = load_error(tmp_path, content)
    assert_problem(
        error, "persons[0].role", line_of(content, "role: mayor"), "unknown role 'mayor'.*微网格长"
    )


def test_missing_key_points_at_the_enclosing_item(tmp_path: Path) -> None:
    content = SMALL.replace("    name: 李芳\n", "")
    error = load_error(tmp_path, content)
    assert_problem(error, "persons[0].name", line_of(content, "- id: li-fang"), "missing required key 'name'")


def test_unknown_unit(tmp_path: Path) -> None:
    content = SMALL.replace("unit: 一号微网格", "unit: 一号微网")
    error = load_error(tmp_path, content)
    assert_problem(
        error, "persons[0].unit", line_of(content, "unit: 一号微网"), "no unit named '一号微网'.*一号微网格"
    )


def test_ambiguous_unit(tmp_path: Path) -> None:
    second = """\
            - name: 二号微网格
              buildings:
                - name: 1号楼
                  groups:
                    - {platform: webchat, id: b1-2}
persons:
"""
    content = SMALL.replace("persons:\n", second).replace("unit: 一号微网格", "unit: 1号楼")
    error = load_error(tmp_path, content)
    assert_problem(error, "persons[0].unit", line_of(content, "unit: 1号楼"), "'1号楼' is ambiguous")
    # a path settles it
    load_directory(write(tmp_path, content.replace("unit: 1号楼", "unit: 二号微网格/1号楼")))


def test_duplicate_person_id(tmp_path: Path) -> None:
    content = SMALL + "  - {id: li-fang, name: 李芳芳, role: resident, unit: 1号楼}\n"
    error = load_error(tmp_path, content)
    assert_problem(error, "persons[1].id", line_of(content, "李芳芳"), "'li-fang' is used twice")


def test_duplicate_group_id(tmp_path: Path) -> None:
    content = SMALL.replace(
        "          micro_grids:", "          groups: [{platform: webchat, id: b1}]\n          micro_grids:"
    )
    error = load_error(tmp_path, content)
    expected_line = line_of(content, "{platform: webchat, id: b1, name")
    assert_problem(
        error,
        "street.communities[0].grids[0].micro_grids[0].buildings[0].groups[0].id",
        expected_line,
        "group webchat:b1 is listed twice",
    )


def test_duplicate_account(tmp_path: Path) -> None:
    content = (
        SMALL
        + "  - {id: other, name: 王五, role: resident, unit: 1号楼,\n"
        + "     accounts: [{platform: webchat, id: li-fang}]}\n"
    )
    error = load_error(tmp_path, content)
    assert_problem(
        error,
        "persons[1].accounts[0].id",
        line_of(content, "accounts: [{platform: webchat, id: li-fang}]"),
        "webchat:li-fang is listed twice",
    )


def test_building_without_webchat_group(tmp_path: Path) -> None:
    content = SMALL.replace(
        "{platform: webchat, id: b1, name: 1号楼居民群}", "{platform: onebot, id: '731000001'}"
    )
    error = load_error(tmp_path, content)
    path = "street.communities[0].grids[0].micro_grids[0].buildings[0].groups"
    assert_problem(error, path, line_of(content, "groups:"), "building '1号楼' has no webchat group")


def test_duplicate_sibling_names(tmp_path: Path) -> None:
    content = SMALL.replace(
        "                  households: 24\n",
        "                  households: 24\n"
        "                  groups: [{platform: webchat, id: b1}]\n"
        "                - name: 1号楼\n",
        1,
    ).replace(
        "                  groups:\n                    - {platform: webchat, id: b1, name: 1号楼居民群}\n",
        "",
    )
    content = content.replace("                - name: 1号楼\npersons", "persons")
    content = content.replace(
        "persons:",
        "                - name: 1号楼\n                  groups: [{platform: webchat, id: b9}]\npersons:",
    )
    error = load_error(tmp_path, content)
    path = "street.communities[0].grids[0].micro_grids[0].buildings[1].name"
    assert_problem(
        error, path, line_of(content, "- name: 1号楼", 2), "'1号楼' appears twice under 一号微网格"
    )


def test_duplicate_yaml_key(tmp_path: Path) -> None:
    content = SMALL.replace(
        "    role: micro_grid_leader\n", "    role: micro_grid_leader\n    role: resident\n"
    )
    error = load_error(tmp_path, content)
    assert_problem(error, "persons[0].role", line_of(content, "role: resident"), "duplicate key 'role'")


def test_households_must_match_layout(tmp_path: Path) -> None:
    content = SMALL.replace(
        "households: 24", "households: 30\n                  layout: {units: 2, floors: 6, per_floor: 2}"
    )
    error = load_error(tmp_path, content)
    path = "street.communities[0].grids[0].micro_grids[0].buildings[0]"
    assert_problem(error, path, line_of(content, "- name: 1号楼"), "households 30 does not match")


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    content = SMALL.replace("role: micro_grid_leader", "role: mayor").replace("      grids:", "      grid:")
    error = load_error(tmp_path, content)
    assert {problem.path for problem in error.problems} == {"persons[0].role", "street.communities[0].grid"}
    assert len(str(error).splitlines()) == 2


def test_render_loc() -> None:
    assert render_loc(("persons", 3, "accounts", 0, "id")) == "persons[3].accounts[0].id"
    assert render_loc(()) == ""


# ---------------------------------------------------------------------------------------------------
# Import


async def count(session: AsyncSession, model: type[Any], *where: Any) -> int:
    return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def do_import(factory: async_sessionmaker[AsyncSession], directory: DirectoryFile) -> Any:
    async with factory() as session, session.begin():
        return await import_directory(session, directory)


def demo_data(demo_directory_path: Path) -> dict[str, Any]:
    return yaml.safe_load(demo_directory_path.read_text(encoding="utf-8"))


def building_spec(data: dict[str, Any], name: str) -> dict[str, Any]:
    for grid in data["street"]["communities"][0]["grids"]:
        for micro_grid in grid["micro_grids"]:
            for building in micro_grid["buildings"]:
                if building["name"] == name:
                    return building
    raise KeyError(name)


def person_spec(data: dict[str, Any], key: str) -> dict[str, Any]:
    return next(person for person in data["persons"] if person["id"] == key)


async def test_importing_the_demo(
    session_factory: async_sessionmaker[AsyncSession], demo_directory: DirectoryFile
) -> None:
    report = await do_import(session_factory, demo_directory)
    assert report.counts()["added"] == {
        "street": 1,
        "community": 1,
        "grid": 5,
        "micro_grid": 10,
        "building": 20,
        "group": 47,
        "person": 36,
    }
    assert report.summary().startswith("added: 1 street (航海西路街道); 1 community (茜城花园社区); 5 grids")
    async with session_factory() as session:
        assert await count(session, Unit, Unit.kind == UnitKind.BUILDING) == 20
        assert await count(session, Group) == 47
        assert await count(session, Group, Group.platform == "webchat") == 26
        assert await count(session, Person, Person.source == "directory") == 36
        assert await count(session, Account, Account.platform == "webchat") == 36
        li_fang = await repos.find_person_by_key(session, "li-fang")
        assert li_fang is not None and li_fang.unit is not None
        assert (li_fang.name, li_fang.role, li_fang.unit.name, li_fang.phone) == (
            "李芳",
            Role.MICRO_GRID_LEADER,
            "第一网格1号微网格",
            "13812345678",
        )
        building = await session.scalar(select(Unit).where(Unit.name == "15号楼"))
        assert building is not None
        assert building.details == {"households": 108, "layout": {"units": 2, "floors": 18, "per_floor": 3}}


async def test_an_unchanged_reimport_reports_no_changes(
    imported_demo: AsyncEngine,
    session_factory: async_sessionmaker[AsyncSession],
    demo_directory: DirectoryFile,
) -> None:
    async with session_factory() as session:
        before = await directory_snapshot(session)
        ids_before = sorted((await session.execute(select(Person.key, Person.id))).all(), key=str)
    report = await do_import(session_factory, demo_directory)
    assert not report.changed
    assert report.summary() == "no changes"
    assert str(report) == "no changes"
    async with session_factory() as session:
        assert await directory_snapshot(session) == before
        assert sorted((await session.execute(select(Person.key, Person.id))).all(), key=str) == ids_before


async def test_a_reimport_with_edits_reports_and_applies_them(
    imported_demo: AsyncEngine, session_factory: async_sessionmaker[AsyncSession], demo_directory_path: Path
) -> None:
    async with session_factory() as session:
        li_fang_id = (await repos.find_person_by_key(session, "li-fang")).id  # type: ignore[union-attr]
        b1_unit_id = (await repos.find_group(session, "webchat", "b1")).unit_id  # type: ignore[union-attr]

    data = demo_data(demo_directory_path)
    micro_grids = data["street"]["communities"][0]["grids"][4]["micro_grids"]
    micro_grids[1]["buildings"] = [b for b in micro_grids[1]["buildings"] if b["name"] != "20号楼"]
    micro_grids[1]["buildings"].append(
        {
            "name": "21号楼",
            "households": 60,
            "groups": [{"platform": "webchat", "id": "b21", "name": "21号楼居民群"}],
        }
    )
    building_spec(data, "1号楼")["layout"] = {"units": 2, "floors": 7, "per_floor": 2}
    building_spec(data, "2号楼")["groups"][0]["name"] = "2号楼邻里群"
    li_fang = person_spec(data, "li-fang")
    li_fang["phone"] = "13900001111"
    li_fang["unit"] = "第一网格2号微网格"
    person_spec(data, "zhou-yulan")["accounts"].append({"platform": "onebot", "id": "10308"})
    data["persons"] = [person for person in data["persons"] if person["id"] != "xiao-ma"]
    data["persons"].append(
        {"id": "qian-ayi", "name": "钱阿姨", "role": "resident", "unit": "21号楼",
         "accounts": [{"platform": "webchat", "id": "qian-ayi"}]}
    )  # fmt: skip

    report = await do_import(session_factory, DirectoryFile.model_validate(data))

    assert report.names("added", "building") == ["21号楼"]
    assert report.names("removed", "building") == ["20号楼"]
    assert [(c.name, c.fields) for c in report.select("updated", "building")] == [
        ("1号楼", ("households", "layout"))
    ]
    assert sorted(report.names("removed", "group")) == [
        "onebot:731000020 茜城花园20号楼居民群",
        "webchat:b20 20号楼居民群",
    ]
    assert report.names("added", "group") == ["webchat:b21 21号楼居民群"]
    assert [(c.name, c.fields) for c in report.select("updated", "group")] == [
        ("webchat:b2 2号楼邻里群", ("name",))
    ]
    assert {c.name: c.fields for c in report.select("updated", "person")} == {
        "李芳": ("unit", "phone"),
        "周玉兰": ("accounts",),
    }
    assert report.names("removed", "person") == ["小马"]
    assert report.names("added", "person") == ["钱阿姨"]
    summary = report.summary()
    assert "added: 1 building (21号楼); 1 group (webchat:b21 21号楼居民群); 1 person (钱阿姨)" in summary
    assert "李芳: unit, phone" in summary
    assert "removed: 1 building (20号楼)" in summary

    async with session_factory() as session:
        assert await repos.find_group(session, "webchat", "b20") is None
        b21 = await repos.find_group(session, "webchat", "b21")
        assert b21 is not None and b21.unit.name == "21号楼" and b21.unit.parent is not None
        assert b21.unit.parent.name == "第五网格2号微网格"
        person = await repos.find_person_by_key(session, "li-fang")
        assert person is not None and person.unit is not None
        assert (person.id, person.phone, person.unit.name) == (li_fang_id, "13900001111", "第一网格2号微网格")
        assert await repos.find_person_by_key(session, "xiao-ma") is None
        assert await repos.find_person_by_account(session, "webchat", "xiao-ma") is None
        assert await repos.find_person_by_account(session, "onebot", "10308") is not None
        b1 = await repos.find_group(session, "webchat", "b1")
        assert b1 is not None and b1.unit_id == b1_unit_id  # updated in place
        assert b1.unit.details["households"] == 28

    assert not (await do_import(session_factory, DirectoryFile.model_validate(data))).changed


async def test_chat_persons_survive_a_reimport(
    imported_demo: AsyncEngine, session_factory: async_sessionmaker[AsyncSession], demo_directory_path: Path
) -> None:
    async with session_factory() as session, session.begin():
        b20 = await repos.find_group(session, "webchat", "b20")
        b3 = await repos.find_group(session, "webchat", "b3")
        assert b20 is not None and b3 is not None
        await repos.register_chat_person(
            session, platform="webchat", external_id="guest-20", name="赵大妈", unit=b20.unit
        )
        await repos.register_chat_person(
            session, platform="webchat", external_id="guest-3", name="孙先生", unit=b3.unit
        )

    data = demo_data(demo_directory_path)
    micro_grids = data["street"]["communities"][0]["grids"][4]["micro_grids"]
    micro_grids[1]["buildings"] = [b for b in micro_grids[1]["buildings"] if b["name"] != "20号楼"]
    report = await do_import(session_factory, DirectoryFile.model_validate(data))
    assert report.select(kind="person") == []

    async with session_factory() as session:
        moved_out = await repos.find_person_by_account(session, "webchat", "guest-20")
        stayed = await repos.find_person_by_account(session, "webchat", "guest-3")
        assert moved_out is not None and moved_out.source == "chat" and moved_out.unit is None
        assert stayed is not None and stayed.unit is not None and stayed.unit.name == "3号楼"

    # A file without any persons still leaves chat persons alone.
    data["persons"] = []
    report = await do_import(session_factory, DirectoryFile.model_validate(data))
    assert len(report.select("removed", "person")) == 36
    async with session_factory() as session:
        assert await count(session, Person) == 2
        assert await count(session, Person, Person.source == "chat") == 2


async def test_a_chat_person_listed_in_the_file_is_adopted(
    imported_demo: AsyncEngine, session_factory: async_sessionmaker[AsyncSession], demo_directory_path: Path
) -> None:
    async with session_factory() as session, session.begin():
        b3 = await repos.find_group(session, "webchat", "b3")
        assert b3 is not None
        chat = await repos.register_chat_person(
            session, platform="webchat", external_id="guest-3", name="孙先生", unit=b3.unit
        )
        chat_id = chat.id

    data = demo_data(demo_directory_path)
    data["persons"].append(
        {"id": "sun-xiansheng", "name": "孙建军", "role": "volunteer", "unit": "3号楼",
         "accounts": [{"platform": "webchat", "id": "guest-3"}, {"platform": "onebot", "id": "20001"}]}
    )  # fmt: skip
    report = await do_import(session_factory, DirectoryFile.model_validate(data))
    [added] = report.select("added", "person")
    assert (added.name, added.note) == ("孙建军", "was met in chat")

    async with session_factory() as session:
        person = await repos.find_person_by_key(session, "sun-xiansheng")
        assert person is not None
        assert (person.id, person.source, person.name, person.role) == (
            chat_id,
            "directory",
            "孙建军",
            Role.VOLUNTEER,
        )
        assert sorted((a.platform, a.external_id) for a in person.accounts) == [
            ("onebot", "20001"),
            ("webchat", "guest-3"),
        ]


async def test_an_account_can_move_between_persons(
    imported_demo: AsyncEngine, session_factory: async_sessionmaker[AsyncSession], demo_directory_path: Path
) -> None:
    data = demo_data(demo_directory_path)
    # The duty desk's QQ number is handed to the party secretary.
    person_spec(data, "community-duty")["accounts"] = [{"platform": "webchat", "id": "community-duty"}]
    person_spec(data, "wang-shuji")["accounts"].append({"platform": "onebot", "id": "10003"})
    report = await do_import(session_factory, DirectoryFile.model_validate(data))
    assert {c.name: c.fields for c in report.select("updated", "person")} == {
        "王建国": ("accounts",),
        "社区值班": ("accounts",),
    }
    async with session_factory() as session:
        owner = await repos.find_person_by_account(session, "onebot", "10003")
        assert owner is not None and owner.key == "wang-shuji"
        assert (
            await count(session, Account, Account.platform == "onebot", Account.external_id == "10003") == 1
        )


async def _reject_persons_named(session: AsyncSession, name: str) -> None:
    """Make the database itself refuse one row, so an import fails half-way through."""
    if session.get_bind().dialect.name == "sqlite":
        await session.execute(
            text(
                "CREATE TRIGGER reject_person BEFORE INSERT ON persons "
                f"WHEN NEW.name = '{name}' BEGIN SELECT RAISE(ABORT, 'rejected by test trigger'); END"
            )
        )
    else:
        await session.execute(
            text(
                "CREATE FUNCTION reject_person() RETURNS trigger AS $$ BEGIN "
                f"IF NEW.name = '{name}' THEN RAISE EXCEPTION 'rejected by test trigger'; END IF; "
                "RETURN NEW; END $$ LANGUAGE plpgsql"
            )
        )
        await session.execute(
            text(
                "CREATE TRIGGER reject_person BEFORE INSERT ON persons "
                "FOR EACH ROW EXECUTE FUNCTION reject_person()"
            )
        )


async def test_a_failed_first_import_leaves_nothing(
    session_factory: async_sessionmaker[AsyncSession], demo_directory_path: Path
) -> None:
    async with session_factory() as session, session.begin():
        await _reject_persons_named(session, "坏人")
    data = demo_data(demo_directory_path)
    data["persons"].append({"id": "bad", "name": "坏人", "role": "resident", "unit": "20号楼"})
    async with session_factory() as session:
        with pytest.raises(DBAPIError, match="rejected by test trigger"):
            await import_directory(session, DirectoryFile.model_validate(data))
        # The caller's transaction is still usable and committing it commits none of the import.
        await session.commit()
    async with session_factory() as session:
        for model in (Unit, Group, Person, Account):
            assert await count(session, model) == 0


async def test_a_failed_reimport_changes_nothing(
    imported_demo: AsyncEngine, session_factory: async_sessionmaker[AsyncSession], demo_directory_path: Path
) -> None:
    async with session_factory() as session, session.begin():
        before = await directory_snapshot(session)
        await _reject_persons_named(session, "坏人")
    data = demo_data(demo_directory_path)
    data["street"]["communities"][0]["grids"].pop()  # removes a grid, 2 micro-grids, 4 buildings …
    gone = {"第五网格", "第五网格1号微网格", "第五网格2号微网格", "17号楼", "18号楼", "19号楼", "20号楼"}
    data["persons"] = [p for p in data["persons"] if p["unit"] not in gone]
    person_spec(data, "li-fang")["phone"] = "13900001111"  # … updates a person …
    data["persons"].append({"id": "bad", "name": "坏人", "role": "resident", "unit": "1号楼"})  # … and fails
    async with session_factory() as session:
        with pytest.raises(DBAPIError):
            await import_directory(session, DirectoryFile.model_validate(data))
        await session.commit()
    async with session_factory() as session:
        assert await directory_snapshot(session) == before


async def test_an_invalid_directory_object_is_refused_before_touching_the_database(
    session_factory: async_sessionmaker[AsyncSession], demo_directory_path: Path
) -> None:
    data = demo_data(demo_directory_path)
    data["persons"][0]["unit"] = "不存在的楼"
    directory = DirectoryFile.model_validate(data)  # field-level validation alone passes
    async with session_factory() as session:
        with pytest.raises(DirectoryError, match=r"persons\[0\]\.unit: no unit named"):
            await import_directory(session, directory)


# ---------------------------------------------------------------------------------------------------
# Snapshot


def test_mask_phone() -> None:
    assert mask_phone("13812345678") == "138****5678"
    assert mask_phone("037167891234") == "037****1234"
    assert mask_phone("12345") == "****"
    assert mask_phone(None) is None
    assert mask_phone("") is None


async def test_the_snapshot(
    imported_demo: AsyncEngine,
    session_factory: async_sessionmaker[AsyncSession],
    demo_directory: DirectoryFile,
) -> None:
    async with session_factory() as session, session.begin():
        b1 = await repos.find_group(session, "webchat", "b1")
        assert b1 is not None
        await repos.register_chat_person(
            session, platform="webchat", external_id="guest-1", name="路人", unit=b1.unit
        )
    async with session_factory() as session:
        snapshot = await directory_snapshot(session)

    encoded = json.dumps(snapshot, ensure_ascii=False)  # JSON-able as it is
    for person in demo_directory.persons:
        if person.phone:
            assert person.phone not in encoded, "a phone number escaped unmasked"

    assert snapshot["street"] == "航海西路街道"
    assert [c["name"] for c in snapshot["communities"]] == ["茜城花园社区"]
    assert [g["name"] for g in snapshot["grids"]] == [
        "第一网格",
        "第二网格",
        "第三网格",
        "第四网格",
        "第五网格",
    ]
    assert len(snapshot["micro_grids"]) == 10
    assert [b["name"] for b in snapshot["buildings"]] == [f"{n}号楼" for n in range(1, 21)]
    assert snapshot["buildings"][9] == {
        "name": "10号楼",
        "micro_grid": "第三网格1号微网格",
        "grid": "第三网格",
        "community": "茜城花园社区",
        "households": 44,
        "layout": {"units": 2, "floors": 11, "per_floor": 2},
        "groups": [
            {"platform": "webchat", "id": "b10", "name": "10号楼居民群"},
            {"platform": "onebot", "id": "731000010", "name": "茜城花园10号楼居民群"},
        ],
    }
    assert {
        "platform": "webchat",
        "id": "grid-3",
        "name": "第三网格工作群",
        "unit": "第三网格",
        "unit_kind": "grid",
    } in (snapshot["groups"])
    assert len(snapshot["groups"]) == 47

    persons = {person["id"]: person for person in snapshot["persons"]}
    assert persons["li-fang"] == {
        "id": "li-fang",
        "name": "李芳",
        "role": "micro_grid_leader",
        "role_label": "微网格长",
        "title": None,
        "unit": "第一网格1号微网格",
        "unit_path": "航海西路街道/茜城花园社区/第一网格/第一网格1号微网格",
        "source": "directory",
        "phone": "138****5678",
        "accounts": [{"platform": "webchat", "id": "li-fang"}, {"platform": "onebot", "id": "10301"}],
    }
    assert all(
        p["phone"] is None or re.fullmatch(r"\d{3}\*{4}\d{4}", p["phone"]) for p in snapshot["persons"]
    )
    chat = snapshot["persons"][-1]  # directory persons first
    assert (chat["id"], chat["name"], chat["source"], chat["unit"]) == (None, "路人", "chat", "1号楼")
    assert snapshot["counts"]["persons"] == 37


async def test_the_snapshot_of_an_empty_database(session: AsyncSession) -> None:
    snapshot = await directory_snapshot(session)
    assert snapshot["street"] is None
    assert snapshot["buildings"] == [] and snapshot["persons"] == []


def test_parse_directory_names_its_source() -> None:
    with pytest.raises(
        DirectoryError, match=r"^inline, line 1: expected a mapping of the keys street and persons"
    ):
        parse_directory("- just a list\n", "inline")
