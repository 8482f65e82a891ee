"""Roles of persons and kinds of units: the vocabulary of the community directory."""

from enum import StrEnum


class Role(StrEnum):
    RESIDENT = "resident"
    MICRO_GRID_LEADER = "micro_grid_leader"
    GRID_MEMBER = "grid_member"
    GRID_LEADER = "grid_leader"
    STAFF = "staff"
    PROPERTY = "property"
    POLICE = "police"
    DEPUTY = "deputy"
    VOLUNTEER = "volunteer"

    @property
    def label(self) -> str:
        return ROLE_LABELS[self]


ROLE_LABELS: dict[Role, str] = {
    Role.RESIDENT: "居民",
    Role.MICRO_GRID_LEADER: "微网格长",
    Role.GRID_MEMBER: "网格员",
    Role.GRID_LEADER: "网格长",
    Role.STAFF: "社区工作人员",
    Role.PROPERTY: "物业",
    Role.POLICE: "民警",
    Role.DEPUTY: "人大代表",
    Role.VOLUNTEER: "志愿者",
}

# Roles that carry the grid's work (to-do lists, patrols, escalations).
GRID_WORKERS: frozenset[Role] = frozenset(
    {Role.MICRO_GRID_LEADER, Role.GRID_MEMBER, Role.GRID_LEADER, Role.STAFF}
)


class UnitKind(StrEnum):
    STREET = "street"
    COMMUNITY = "community"
    GRID = "grid"
    MICRO_GRID = "micro_grid"
    BUILDING = "building"

    @property
    def label(self) -> str:
        return UNIT_KIND_LABELS[self]


UNIT_KIND_LABELS: dict[UnitKind, str] = {
    UnitKind.STREET: "街道",
    UnitKind.COMMUNITY: "社区",
    UnitKind.GRID: "网格",
    UnitKind.MICRO_GRID: "微网格",
    UnitKind.BUILDING: "楼栋",
}

# Top-down order of the hierarchy; a unit's parent is always of the kind just before it.
HIERARCHY: tuple[UnitKind, ...] = (
    UnitKind.STREET,
    UnitKind.COMMUNITY,
    UnitKind.GRID,
    UnitKind.MICRO_GRID,
    UnitKind.BUILDING,
)
