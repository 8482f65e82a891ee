"""The community directory: a YAML file the staff edit, validated, imported into the database and shown.

The format is documented in docs/directory.md. In short: one street, its communities, grids,
micro-grids and buildings nested in that order, chat groups at any level, and a list of persons, each
pointing at a unit by name or path. `load_directory` validates a file and reports every problem with
its key path and line; `import_directory` brings the database in line with it (in place, by stable
keys); `directory_snapshot` is the JSON view (phones masked).
"""

from __future__ import annotations

import difflib
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from storage.memo import directory_memo
from storage.models import Account, Group, Person, Unit
from storage.roles import HIERARCHY, ROLE_LABELS, Role, UnitKind
from storage.sorting import natural_key

WEBCHAT = "webchat"  # the built-in web chat; every building needs a group there

Loc = tuple[str | int, ...]

# ---------------------------------------------------------------------------------------------------
# Errors


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a directory file, at a key path such as `persons[3].role`."""

    path: str
    message: str
    line: int | None = None

    def render(self, source: str) -> str:
        where = f"{source}, line {self.line}" if self.line is not None else source
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class DirectoryError(Exception):
    """The directory file is unusable; the message has one line per problem (file, line, key path)."""

    def __init__(self, source: str, problems: Sequence[Problem]) -> None:
        self.source = source
        self.problems = list(problems)
        super().__init__("\n".join(problem.render(source) for problem in self.problems))


def render_loc(loc: Loc) -> str:
    """('persons', 3, 'role') → 'persons[3].role'."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text


# ---------------------------------------------------------------------------------------------------
# The file format


def _int_to_str(value: Any) -> Any:
    # QQ numbers and phones are often written unquoted, and YAML then reads them as integers.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


def _parse_role(value: Any) -> Role:
    """A role by its value (micro_grid_leader) or its Chinese label (微网格长)."""
    if isinstance(value, Role):
        return value
    if isinstance(value, str):
        text = value.strip()
        for role, label in ROLE_LABELS.items():
            if text.lower() == role.value or text == label:
                return role
    choices = ", ".join(f"{role.value} ({label})" for role, label in ROLE_LABELS.items())
    raise ValueError(f"unknown role {value!r}; one of: {choices}")


def _matching(pattern: str, explanation: str) -> AfterValidator:
    """A pattern check whose error says what is wanted in words, not as a regular expression."""
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise ValueError(f"{explanation}, not {value!r}")
        return value

    return AfterValidator(check)


Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
ExternalId = Annotated[
    str, BeforeValidator(_int_to_str), StringConstraints(strip_whitespace=True, min_length=1, max_length=128)
]
Platform = Annotated[
    str,
    StringConstraints(strip_whitespace=True, to_lower=True, min_length=1, max_length=32),
    _matching(r"[a-z][a-z0-9_]*", "a platform is a word of letters, digits and _ such as webchat or onebot"),
]
PersonKey = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=64),
    _matching(r"\S+", "a person id has no spaces (use li-fang, not 'li fang')"),
]
Phone = Annotated[
    str, BeforeValidator(_int_to_str), StringConstraints(strip_whitespace=True, min_length=1, max_length=32)
]
RoleField = Annotated[Role, BeforeValidator(_parse_role)]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GroupSpec(_Spec):
    platform: Platform
    id: ExternalId
    name: Name | None = None


class LayoutSpec(_Spec):
    """Units (单元) × floors × households per floor; the notices feature counts households from it."""

    units: int = Field(ge=1, le=50)
    floors: int = Field(ge=1, le=200)
    per_floor: int = Field(ge=1, le=50)

    @property
    def households(self) -> int:
        return self.units * self.floors * self.per_floor


class _UnitSpec(_Spec):
    name: Name
    groups: list[GroupSpec] = []

    def details(self) -> dict[str, Any]:
        """What goes into Unit.details."""
        return {}


class BuildingSpec(_UnitSpec):
    households: int | None = Field(default=None, ge=0, le=100_000)
    layout: LayoutSpec | None = None

    @model_validator(mode="after")
    def _households_match_layout(self) -> BuildingSpec:
        if (
            self.layout is not None
            and self.households is not None
            and self.households != self.layout.households
        ):
            layout = self.layout
            raise ValueError(
                f"households {self.households} does not match layout "
                f"{layout.units}×{layout.floors}×{layout.per_floor} = {layout.households}; "
                "give one or the other"
            )
        return self

    @property
    def total_households(self) -> int | None:
        if self.households is not None:
            return self.households
        return self.layout.households if self.layout is not None else None

    def details(self) -> dict[str, Any]:
        """What goes into Unit.details."""
        details: dict[str, Any] = {}
        if self.total_households is not None:
            details["households"] = self.total_households
        if self.layout is not None:
            details["layout"] = self.layout.model_dump()
        return details


class MicroGridSpec(_UnitSpec):
    buildings: list[BuildingSpec] = []


class PatrolSpec(_Spec):
    """A patrol rota of the grid (the patrols feature reads it from the grid's details): who patrols
    which of the grid's buildings on which weekdays, and whether it is a daily or a special patrol."""

    person: PersonKey
    buildings: list[Name] = Field(min_length=1)
    days: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] = Field(min_length=1)
    time: Literal["上午", "下午", "全天"] = "上午"
    kind: Literal["daily", "safety", "fire", "food"] = "daily"


class GridSpec(_UnitSpec):
    micro_grids: list[MicroGridSpec] = []
    patrols: list[PatrolSpec] = []

    def details(self) -> dict[str, Any]:
        return {"patrols": [patrol.model_dump() for patrol in self.patrols]} if self.patrols else {}


class CommunitySpec(_UnitSpec):
    grids: list[GridSpec] = []
    # The community's own rules for requests (routing, time limits); the handlers own its schema and
    # the loader's caller checks it (see `PolicyCheck`), since storage knows nothing of handlers.
    policy: dict[str, Any] | None = None

    def details(self) -> dict[str, Any]:
        return {"policy": self.policy} if self.policy is not None else {}


class StreetSpec(_UnitSpec):
    communities: list[CommunitySpec] = []


class AccountSpec(_Spec):
    platform: Platform
    id: ExternalId


class PersonSpec(_Spec):
    id: PersonKey
    name: Name
    role: RoleField
    unit: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)] | None = None
    phone: Phone | None = None
    accounts: list[AccountSpec] = []


@dataclass(frozen=True)
class UnitEntry:
    """A unit of the file with where it sits: `path` is its names from the street down."""

    kind: UnitKind
    path: tuple[str, ...]
    loc: Loc
    spec: _UnitSpec

    @property
    def name(self) -> str:
        return self.path[-1]


_CHILDREN_KEY: dict[UnitKind, str] = {
    UnitKind.STREET: "communities",
    UnitKind.COMMUNITY: "grids",
    UnitKind.GRID: "micro_grids",
    UnitKind.MICRO_GRID: "buildings",
}


class DirectoryFile(_Spec):
    street: StreetSpec
    persons: list[PersonSpec] = []

    def units(self) -> Iterator[UnitEntry]:
        """Every unit, parents before children, in file order."""
        yield from _walk_units(UnitKind.STREET, self.street, (), ("street",))

    def resolve_unit(self, reference: str) -> list[UnitEntry]:
        """The units a person's `unit:` can mean: a name, or a path whose last parts are given
        ("第一网格/第一网格1号微网格"). More than one match means the reference is ambiguous."""
        wanted = tuple(part.strip() for part in reference.split("/") if part.strip())
        if not wanted:
            return []
        return [entry for entry in self.units() if entry.path[-len(wanted) :] == wanted]


def _walk_units(kind: UnitKind, spec: _UnitSpec, parent: tuple[str, ...], loc: Loc) -> Iterator[UnitEntry]:
    entry = UnitEntry(kind, (*parent, spec.name), loc, spec)
    yield entry
    children_key = _CHILDREN_KEY.get(kind)
    if children_key is None:
        return
    child_kind = HIERARCHY[HIERARCHY.index(kind) + 1]
    for index, child in enumerate(getattr(spec, children_key)):
        yield from _walk_units(child_kind, child, entry.path, (*loc, children_key, index))


# ---------------------------------------------------------------------------------------------------
# Loading and validation


# Checks a community's `policy:` block; raises ValueError saying what is wrong.
PolicyCheck = Callable[[dict[str, Any]], None]


def load_directory(path: str | Path, policy_check: PolicyCheck | None = None) -> DirectoryFile:
    """Read and validate a directory file; DirectoryError lists every problem found."""
    path = Path(path)
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise DirectoryError(source, [Problem("", f"cannot read the file: {error}")]) from None
    return parse_directory(text, source, policy_check)


def parse_directory(
    text: str, source: str = "<directory>", policy_check: PolicyCheck | None = None
) -> DirectoryFile:
    """Validate directory YAML given as text; `source` names it in error messages."""
    node, data = _parse_yaml(text, source)
    lines, problems = _line_map(node)
    if data is None:
        raise DirectoryError(source, [Problem("", "the file is empty", 1)])
    try:
        directory = DirectoryFile.model_validate(data)
    except ValidationError as error:
        problems += [_pydantic_problem(item) for item in error.errors()]
        raise DirectoryError(source, _with_lines(problems, lines)) from None
    problems += check_directory(directory)
    if policy_check is not None:
        problems += _check_policies(directory, policy_check)
    if problems:
        raise DirectoryError(source, _with_lines(problems, lines))
    return directory


def _check_policies(directory: DirectoryFile, policy_check: PolicyCheck) -> Iterator[Problem]:
    for index, community in enumerate(directory.street.communities):
        if community.policy is None:
            continue
        try:
            policy_check(community.policy)
        except ValueError as error:
            yield Problem(render_loc(("street", "communities", index, "policy")), str(error))


def _parse_yaml(text: str, source: str) -> tuple[yaml.Node | None, Any]:
    # One parse gives both the node tree (for line numbers) and the data.
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark is not None else None
        message = ", ".join(part for part in (error.context, error.problem) if part)
        raise DirectoryError(source, [Problem("", f"YAML syntax error: {message}", line)]) from None
    except yaml.YAMLError as error:
        raise DirectoryError(source, [Problem("", f"YAML error: {error}")]) from None
    finally:
        loader.dispose()
    return node, data


def _line_map(root: yaml.Node | None) -> tuple[dict[Loc, int], list[Problem]]:
    """Key path → line (1-based) of every key and list item; also reports duplicate keys, which
    YAML would otherwise silently resolve to the last one."""
    lines: dict[Loc, int] = {}
    problems: list[Problem] = []
    if root is None:
        return lines, problems
    lines[()] = root.start_mark.line + 1
    on_path: set[int] = set()  # guards against recursive aliases

    def walk(node: yaml.Node, loc: Loc) -> None:
        if id(node) in on_path:
            return
        on_path.add(id(node))
        if isinstance(node, yaml.MappingNode):
            seen: dict[str, int] = {}
            for key_node, value_node in node.value:
                key = str(key_node.value)
                child = (*loc, key)
                line = key_node.start_mark.line + 1
                if key in seen:
                    message = f"duplicate key {key!r} (first at line {seen[key]})"
                    problems.append(Problem(render_loc(child), message, line))
                    continue
                seen[key] = line
                lines[child] = line
                walk(value_node, child)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                lines[(*loc, index)] = item.start_mark.line + 1
                walk(item, (*loc, index))
        on_path.discard(id(node))

    walk(root, ())
    return lines, problems


def _with_lines(problems: list[Problem], lines: dict[Loc, int]) -> list[Problem]:
    located = []
    for problem in problems:
        if problem.line is None:
            problem = Problem(problem.path, problem.message, _line_of(_parse_loc(problem.path), lines))
        located.append(problem)
    return sorted(located, key=lambda problem: (problem.line or 0, problem.path))


def _line_of(loc: Loc, lines: dict[Loc, int]) -> int | None:
    # A missing key has no line of its own: report the nearest enclosing key or item.
    for end in range(len(loc), -1, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None


def _parse_loc(path: str) -> Loc:
    """'persons[3].role' → ('persons', 3, 'role'): the inverse of render_loc."""
    loc: list[str | int] = []
    for part in path.split(".") if path else []:
        name, _, rest = part.partition("[")
        if name:
            loc.append(name)
        for index in rest.replace("]", "").split("[") if rest else []:
            loc.append(int(index))
    return tuple(loc)


def _pydantic_problem(item: Any) -> Problem:
    loc: Loc = tuple(item["loc"])
    kind = item["type"]
    if kind == "extra_forbidden":
        allowed = _allowed_keys(loc[:-1])
        message = f"unknown key {loc[-1]!r}"
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        if close:
            message += f" (did you mean {close[0]!r}?)"
        elif allowed:
            message += f"; allowed here: {', '.join(allowed)}"
    elif kind == "missing":
        message = f"missing required key {loc[-1]!r}" if loc else "missing"
    elif kind in ("model_type", "dict_type"):
        expected = "the keys street and persons" if not loc else "keys (name: …)"
        message = f"expected a mapping of {expected}, got {_yaml_kind(item['input'])}"
    elif kind == "list_type":
        message = f"expected a list (items on lines starting with '- '), got {_yaml_kind(item['input'])}"
    elif kind == "value_error":
        message = str(item["ctx"]["error"]) if "ctx" in item else item["msg"]
    else:
        message = item["msg"]
    return Problem(render_loc(loc), message)


def _yaml_kind(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return "nothing" if value is None else repr(value)


def _allowed_keys(loc: Loc) -> list[str]:
    model: type[BaseModel] | None = DirectoryFile
    for part in loc:
        if model is None:
            return []
        if isinstance(part, int):
            continue
        info = model.model_fields.get(part)
        model = _inner_model(info.annotation) if info is not None else None
    return list(model.model_fields) if model is not None else []


def _inner_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for argument in get_args(annotation):
        found = _inner_model(argument)
        if found is not None:
            return found
    return None


def check_directory(directory: DirectoryFile) -> list[Problem]:
    """The rules pydantic cannot see field by field: names, uniqueness, references, web chat groups."""
    return [
        *_check_unit_names(directory),
        *_check_groups(directory),
        *_check_persons(directory),
        *_check_patrols(directory),
    ]


def _check_patrols(directory: DirectoryFile) -> Iterator[Problem]:
    """A patrol names a directory person and buildings of its own grid."""
    keys = {person.id for person in directory.persons}
    entries = list(directory.units())
    for grid in (entry for entry in entries if entry.kind == UnitKind.GRID):
        assert isinstance(grid.spec, GridSpec)
        buildings = {
            entry.name
            for entry in entries
            if entry.kind == UnitKind.BUILDING and entry.path[: len(grid.path)] == grid.path
        }
        for index, patrol in enumerate(grid.spec.patrols):
            loc = (*grid.loc, "patrols", index)
            if patrol.person not in keys:
                yield Problem(render_loc((*loc, "person")), f"no person with id {patrol.person!r}")
            for number, name in enumerate(patrol.buildings):
                if name not in buildings:
                    yield Problem(
                        render_loc((*loc, "buildings", number)), f"{name!r} is not a building of {grid.name}"
                    )


def _check_unit_names(directory: DirectoryFile) -> Iterator[Problem]:
    first_seen: dict[tuple[str, ...], Loc] = {}
    for entry in directory.units():
        name_loc = render_loc((*entry.loc, "name"))
        if "/" in entry.name:
            yield Problem(
                name_loc, f"a unit name cannot contain '/' (it separates the parts of a path): {entry.name!r}"
            )
        if entry.path in first_seen:
            parent = entry.path[-2] if len(entry.path) > 1 else "the street"
            first = render_loc((*first_seen[entry.path], "name"))
            yield Problem(name_loc, f"{entry.name!r} appears twice under {parent} (first at {first})")
        else:
            first_seen[entry.path] = entry.loc


def _check_groups(directory: DirectoryFile) -> Iterator[Problem]:
    first_seen: dict[tuple[str, str], Loc] = {}
    for entry in directory.units():
        for index, group in enumerate(entry.spec.groups):
            loc = (*entry.loc, "groups", index)
            key = (group.platform, group.id)
            if key in first_seen:
                yield Problem(
                    render_loc((*loc, "id")),
                    f"group {group.platform}:{group.id} is listed twice "
                    f"(first at {render_loc(first_seen[key])})",
                )
            else:
                first_seen[key] = loc
        if entry.kind == UnitKind.BUILDING and not any(
            group.platform == WEBCHAT for group in entry.spec.groups
        ):
            yield Problem(
                render_loc((*entry.loc, "groups")),
                f"building {entry.name!r} has no {WEBCHAT} group (the web chat needs one per building)",
            )


def _check_persons(directory: DirectoryFile) -> Iterator[Problem]:
    ids: dict[str, int] = {}
    accounts: dict[tuple[str, str], Loc] = {}
    all_paths = ["/".join(entry.path[1:]) for entry in directory.units()]
    all_names = [entry.name for entry in directory.units()]
    for index, person in enumerate(directory.persons):
        if person.id in ids:
            yield Problem(
                render_loc(("persons", index, "id")),
                f"person id {person.id!r} is used twice (first at persons[{ids[person.id]}])",
            )
        else:
            ids[person.id] = index
        for number, account in enumerate(person.accounts):
            loc = ("persons", index, "accounts", number)
            key = (account.platform, account.id)
            if key in accounts:
                yield Problem(
                    render_loc((*loc, "id")),
                    f"account {account.platform}:{account.id} is listed twice "
                    f"(first at {render_loc(accounts[key])})",
                )
            else:
                accounts[key] = loc
        matches = directory.resolve_unit(person.unit)
        unit_loc = render_loc(("persons", index, "unit"))
        if not matches:
            close = difflib.get_close_matches(person.unit, all_names + all_paths, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            yield Problem(unit_loc, f"no unit named {person.unit!r}{hint}")
        elif len(matches) > 1:
            candidates = ", ".join("/".join(match.path[1:]) for match in matches[:4])
            yield Problem(
                unit_loc, f"{person.unit!r} is ambiguous: it names {candidates}; write more of the path"
            )


# ---------------------------------------------------------------------------------------------------
# Import


Action = Literal["added", "updated", "removed"]

_KIND_NOUNS: dict[str, tuple[str, str]] = {
    "street": ("street", "streets"),
    "community": ("community", "communities"),
    "grid": ("grid", "grids"),
    "micro_grid": ("micro-grid", "micro-grids"),
    "building": ("building", "buildings"),
    "group": ("group", "groups"),
    "person": ("person", "persons"),
}
_SUMMARY_NAMES = 6  # names listed per kind before "…"


@dataclass(frozen=True)
class Change:
    """One row of an import report. `kind` is a UnitKind value, "group" or "person"."""

    kind: str
    action: Action
    name: str
    fields: tuple[str, ...] = ()  # for updates: what changed
    note: str = ""

    def describe(self) -> str:
        text = self.name
        if self.fields:
            text += f": {', '.join(self.fields)}"
        if self.note:
            text += f" [{self.note}]"
        return text


@dataclass
class ImportReport:
    changes: list[Change] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.changes)

    def select(self, action: Action | None = None, kind: str | None = None) -> list[Change]:
        return [
            change
            for change in self.changes
            if (action is None or change.action == action) and (kind is None or change.kind == kind)
        ]

    def names(self, action: Action, kind: str) -> list[str]:
        return [change.name for change in self.select(action, kind)]

    def counts(self) -> dict[str, dict[str, int]]:
        """{"added": {"building": 20, …}, "updated": {…}, "removed": {…}}"""
        counts: dict[str, dict[str, int]] = {"added": {}, "updated": {}, "removed": {}}
        for change in self.changes:
            bucket = counts[change.action]
            bucket[change.kind] = bucket.get(change.kind, 0) + 1
        return counts

    def summary(self) -> str:
        """A few lines for people: what was added, updated and removed, with names."""
        if not self.changes:
            return "no changes"
        lines = []
        for action in ("added", "updated", "removed"):
            parts = []
            for kind, (singular, plural) in _KIND_NOUNS.items():
                changes = self.select(action, kind)
                if not changes:
                    continue
                described = [change.describe() for change in changes[:_SUMMARY_NAMES]]
                if len(changes) > _SUMMARY_NAMES:
                    described.append("…")
                noun = singular if len(changes) == 1 else plural
                parts.append(f"{len(changes)} {noun} ({', '.join(described)})")
            if parts:
                lines.append(f"{action}: " + "; ".join(parts))
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


async def import_directory(session: AsyncSession, directory: DirectoryFile) -> ImportReport:
    """Make the database match the directory, in the caller's transaction.

    Units are matched by (parent, name), groups and accounts by (platform, id), persons by key, and
    updated in place, so ids other tables refer to survive a re-import. Everything the file no longer
    lists is removed, except persons met in chat (source "chat"), who lose at most their unit. The work
    runs in a SAVEPOINT: on any error nothing of it remains, even if the caller goes on and commits."""
    problems = check_directory(directory)
    if problems:
        raise DirectoryError("<directory>", problems)
    memo = directory_memo(session)
    if memo is not None:
        memo.clear()  # and once more after the commit: see storage/memo.py
    importer = _Importer(session, directory)
    async with session.begin_nested():
        await importer.run()
    return importer.report


class _Importer:
    def __init__(self, session: AsyncSession, directory: DirectoryFile) -> None:
        self.session = session
        self.directory = directory
        self.report = ImportReport()
        self.units_by_path: dict[tuple[str, ...], Unit] = {}

    async def run(self) -> None:
        units = list(await self.session.scalars(select(Unit)))
        groups = list(await self.session.scalars(select(Group)))
        persons = list(await self.session.scalars(select(Person).options(selectinload(Person.accounts))))
        kept_units = self._sync_units(units)
        await self.session.flush()  # new units get ids before groups and persons point at them
        doomed: list[Group | Person] = [*self._sync_groups(groups), *self._sync_persons(persons)]
        for instance in doomed:
            await self.session.delete(instance)
        await self.session.flush()
        await self._remove_units([unit for unit in units if id(unit) not in kept_units], persons)

    # Units ------------------------------------------------------------------------------------------

    def _sync_units(self, existing: list[Unit]) -> set[int]:
        """Add and update units; returns the Python ids of existing units the file still lists."""
        by_parent_and_name = {(unit.parent_id, unit.name): unit for unit in existing}
        kept: set[int] = set()
        for entry in self.directory.units():
            parent = self.units_by_path.get(entry.path[:-1])
            details = entry.spec.details()
            # A new parent has no id yet and so no existing children: its whole subtree is new.
            unit = None
            if parent is None or parent.id is not None:
                unit = by_parent_and_name.get((parent.id if parent else None, entry.name))
            if unit is None:
                unit = Unit(kind=entry.kind, name=entry.name, parent=parent, details=details)
                self.session.add(unit)
                self._record(entry.kind, "added", entry.name)
            else:
                kept.add(id(unit))
                changed = _changed_detail_keys(unit.details or {}, details)
                if changed or unit.kind != entry.kind:
                    unit.kind = entry.kind
                    unit.details = details
                    self._record(entry.kind, "updated", entry.name, changed or ("kind",))
            self.units_by_path[entry.path] = unit
        return kept

    async def _remove_units(self, removed: list[Unit], persons: list[Person]) -> None:
        removed_ids = {unit.id for unit in removed}
        for person in persons:
            # Directory persons all point at listed units by now; residents met in chat stay, unplaced.
            if person.source == "chat" and person.unit_id in removed_ids:
                person.unit = None
        # Children before parents: the parent link is ON DELETE RESTRICT.
        for kind in reversed(HIERARCHY):
            doomed = [unit for unit in removed if unit.kind == kind]
            for unit in doomed:
                await self.session.delete(unit)
                self._record(kind, "removed", unit.name)
            if doomed:
                await self.session.flush()

    # Groups -----------------------------------------------------------------------------------------

    def _sync_groups(self, existing: list[Group]) -> list[Group]:
        """Add, update and move groups; returns the groups the file no longer lists."""
        by_key = {(group.platform, group.external_id): group for group in existing}
        seen: set[tuple[str, str]] = set()
        for entry in self.directory.units():
            unit = self.units_by_path[entry.path]
            for spec in entry.spec.groups:
                key = (spec.platform, spec.id)
                seen.add(key)
                name = spec.name or ""
                group = by_key.get(key)
                if group is None:
                    self.session.add(Group(platform=spec.platform, external_id=spec.id, name=name, unit=unit))
                    self._record("group", "added", _group_label(spec.platform, spec.id, name))
                    continue
                changed = []
                if group.name != name:
                    group.name = name
                    changed.append("name")
                if group.unit_id != unit.id:
                    group.unit = unit
                    changed.append("unit")
                if changed:
                    self._record("group", "updated", _group_label(spec.platform, spec.id, name), changed)
        gone = [group for key, group in by_key.items() if key not in seen]
        for group in gone:
            self._record("group", "removed", _group_label(group.platform, group.external_id, group.name))
        return gone

    # Persons ----------------------------------------------------------------------------------------

    def _sync_persons(self, existing: list[Person]) -> list[Person]:
        """Add, update and adopt persons; returns the directory persons the file no longer lists."""
        by_key = {person.key: person for person in existing if person.key is not None}
        accounts: dict[tuple[str, str], Account] = {}
        owners: dict[tuple[str, str], Person | None] = {}
        for person in existing:
            for account in person.accounts:
                accounts[(account.platform, account.external_id)] = account
                owners[(account.platform, account.external_id)] = person
        changed_fields: dict[int, set[str]] = defaultdict(set)
        listed: set[int] = set()  # persons the file lists
        new: set[int] = set()  # … of which new to the directory (reported as added, not updated)

        for spec in self.directory.persons:
            person = by_key.get(spec.id)
            adopted = None
            if person is None:
                person = adopted = self._chat_person_holding(spec, owners)
            if person is None:
                person = Person(key=spec.id, name=spec.name, role=spec.role, source="directory", accounts=[])
                self.session.add(person)
            if person.id is None or adopted is not None:
                new.add(id(person))
                self._record("person", "added", spec.name, note="was met in chat" if adopted else "")
            listed.add(id(person))
            changed_fields[id(person)].update(self._apply_person(person, spec))
            losers, own_changed = self._apply_accounts(person, spec, accounts, owners)
            if own_changed:
                changed_fields[id(person)].add("accounts")
            for loser in losers:
                changed_fields[id(loser)].add("accounts")

        gone = [person for person in existing if person.source == "directory" and id(person) not in listed]
        for person in gone:
            self._record("person", "removed", person.name)
        for person in existing:
            fields = changed_fields.get(id(person))
            if fields and id(person) not in new and person not in gone:
                self._record("person", "updated", person.name, sorted(fields, key=_PERSON_FIELDS.index))
        return gone

    def _chat_person_holding(
        self, spec: PersonSpec, owners: dict[tuple[str, str], Person | None]
    ) -> Person | None:
        # A resident met in chat and now listed in the file keeps their row (and everything that
        # refers to it): they become the directory person.
        for account in spec.accounts:
            owner = owners.get((account.platform, account.id))
            if owner is not None and owner.source == "chat":
                return owner
        return None

    def _apply_person(self, person: Person, spec: PersonSpec) -> list[str]:
        unit = self.units_by_path[self.directory.resolve_unit(spec.unit)[0].path]
        changed = []
        for name, value in (
            ("name", spec.name),
            ("role", spec.role),
            ("title", spec.title),
            ("phone", spec.phone),
        ):
            if getattr(person, name) != value:
                setattr(person, name, value)
                changed.append(name)
        if person.unit_id is None or person.unit_id != unit.id:
            person.unit = unit
            changed.append("unit")
        person.key = spec.id
        person.source = "directory"
        return changed

    def _apply_accounts(
        self,
        person: Person,
        spec: PersonSpec,
        accounts: dict[tuple[str, str], Account],
        owners: dict[tuple[str, str], Person | None],
    ) -> tuple[list[Person], bool]:
        """Give the person exactly the accounts the file lists, taking them from whoever had them.
        Returns the persons who lost one to this person, and whether this person's set changed."""
        wanted = [(account.platform, account.id) for account in spec.accounts]
        losers: list[Person] = []
        changed = False
        for account in list(person.accounts):
            key = (account.platform, account.external_id)
            if key not in wanted:
                person.accounts.remove(account)  # an orphan, deleted at flush unless someone takes it
                owners[key] = None
                changed = True
        for key in wanted:
            account = accounts.get(key)
            if account is None:
                account = Account(platform=key[0], external_id=key[1], display_name=spec.name)
                accounts[key] = account
                person.accounts.append(account)
                changed = True
            elif owners.get(key) is not person:
                previous = owners.get(key)
                if previous is not None:
                    previous.accounts.remove(account)
                    losers.append(previous)
                person.accounts.append(account)
                changed = True
            owners[key] = person
            if account.display_name != spec.name:
                account.display_name = spec.name
        return losers, changed

    def _record(
        self, kind: str, action: Action, name: str, fields: Sequence[str] = (), note: str = ""
    ) -> None:
        self.report.changes.append(Change(str(kind), action, name, tuple(fields), note))


_PERSON_FIELDS = ["name", "role", "title", "unit", "phone", "accounts"]


def _changed_detail_keys(old: dict[str, Any], new: dict[str, Any]) -> tuple[str, ...]:
    return tuple(key for key in sorted(set(old) | set(new)) if old.get(key) != new.get(key))


def _group_label(platform: str, external_id: str, name: str) -> str:
    return f"{platform}:{external_id}" + (f" {name}" if name else "")


# ---------------------------------------------------------------------------------------------------
# Snapshot


def mask_phone(phone: str | None) -> str | None:
    """138****5678: the first three and last four characters of anything long enough, else ****."""
    if not phone:
        return None
    phone = phone.strip()
    return f"{phone[:3]}****{phone[-4:]}" if len(phone) >= 8 else "****"


async def directory_snapshot(session: AsyncSession) -> dict[str, Any]:
    """The directory as one JSON-able object (for `python -m bot directory show --json`). Phones are
    masked; nothing else in it is personal beyond names and platform ids."""
    units = list(await session.scalars(select(Unit)))
    groups = list(await session.scalars(select(Group)))
    persons = list(await session.scalars(select(Person).options(selectinload(Person.accounts))))
    tree = _Tree(units)
    groups_of: dict[int, list[Group]] = defaultdict(list)
    for group in groups:
        groups_of[group.unit_id].append(group)
    for unit_groups in groups_of.values():
        unit_groups.sort(
            key=lambda group: (group.platform != WEBCHAT, group.platform, natural_key(group.external_id))
        )

    def group_list(unit: Unit) -> list[dict[str, str]]:
        return [{"platform": g.platform, "id": g.external_id, "name": g.name} for g in groups_of[unit.id]]

    ordered = tree.ordered()
    by_kind: dict[UnitKind, list[Unit]] = defaultdict(list)
    for unit in ordered:
        by_kind[unit.kind].append(unit)
    streets = by_kind[UnitKind.STREET]
    snapshot: dict[str, Any] = {
        "street": streets[0].name if streets else None,
        "communities": [
            {"name": unit.name, "groups": group_list(unit)} for unit in by_kind[UnitKind.COMMUNITY]
        ],
        "grids": [
            {"name": unit.name, **tree.ancestors(unit), "groups": group_list(unit)}
            for unit in by_kind[UnitKind.GRID]
        ],
        "micro_grids": [
            {
                "name": unit.name,
                **tree.ancestors(unit),
                "buildings": [child.name for child in tree.children(unit)],
                "groups": group_list(unit),
            }
            for unit in by_kind[UnitKind.MICRO_GRID]
        ],
        "buildings": [
            {
                "name": unit.name,
                **tree.ancestors(unit),
                "households": (unit.details or {}).get("households"),
                "layout": (unit.details or {}).get("layout"),
                "groups": group_list(unit),
            }
            for unit in by_kind[UnitKind.BUILDING]
        ],
        "groups": [
            {
                "platform": group.platform,
                "id": group.external_id,
                "name": group.name,
                "unit": tree.units[group.unit_id].name,
                "unit_kind": str(tree.units[group.unit_id].kind),
            }
            for unit in ordered
            for group in groups_of[unit.id]
        ],
        "persons": [_person_json(person, tree) for person in sort_persons(persons)],
    }
    snapshot["counts"] = {
        key: len(snapshot[key])
        for key in ("communities", "grids", "micro_grids", "buildings", "groups", "persons")
    }
    return snapshot


_ROLE_ORDER = {role: index for index, role in enumerate(Role)}


def person_sort_key(person: Person) -> tuple[Any, ...]:
    """Directory persons first, then by role (in Role's order), then by name."""
    return (
        person.source != "directory",
        _ROLE_ORDER.get(person.role, len(_ROLE_ORDER)),
        natural_key(person.name),
        person.id or 0,
    )


def sort_persons(persons: Sequence[Person]) -> list[Person]:
    return sorted(persons, key=person_sort_key)


def _person_json(person: Person, tree: _Tree) -> dict[str, Any]:
    unit = tree.units.get(person.unit_id) if person.unit_id is not None else None
    return {
        "id": person.key,
        "name": person.name,
        "role": str(person.role),
        "role_label": Role(person.role).label,
        "title": person.title,
        "unit": unit.name if unit else None,
        "unit_path": "/".join(u.name for u in reversed(tree.chain(unit))) if unit else None,
        "source": person.source,
        "phone": mask_phone(person.phone),
        "accounts": [{"platform": a.platform, "id": a.external_id} for a in person.accounts],
    }


class _Tree:
    """The unit hierarchy in memory, for the snapshot."""

    def __init__(self, units: list[Unit]) -> None:
        self.units = {unit.id: unit for unit in units}
        self._children: dict[int | None, list[Unit]] = defaultdict(list)
        for unit in units:
            self._children[unit.parent_id].append(unit)
        for siblings in self._children.values():
            siblings.sort(key=lambda unit: (natural_key(unit.name), unit.id))

    def children(self, unit: Unit | None) -> list[Unit]:
        return self._children[unit.id if unit else None]

    def ordered(self) -> list[Unit]:
        """Depth first, siblings in natural order."""
        result: list[Unit] = []
        stack = list(reversed(self.children(None)))
        while stack:
            unit = stack.pop()
            result.append(unit)
            stack.extend(reversed(self.children(unit)))
        return result

    def chain(self, unit: Unit) -> list[Unit]:
        chain = [unit]
        while chain[-1].parent_id is not None and chain[-1].parent_id in self.units:
            chain.append(self.units[chain[-1].parent_id])
        return chain

    def ancestors(self, unit: Unit) -> dict[str, str]:
        """{"micro_grid": …, "grid": …, "community": …} — the unit's ancestors by kind (no street)."""
        return {
            str(ancestor.kind): ancestor.name
            for ancestor in self.chain(unit)[1:]
            if ancestor.kind != UnitKind.STREET
        }


def unit_counts(directory: DirectoryFile) -> Counter[UnitKind]:
    """How many units of each kind the file has."""
    return Counter(entry.kind for entry in directory.units())
