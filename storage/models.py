"""ORM models. Every table is created by an Alembic migration (storage/migrations), never create_all:
a change here needs a new revision there (tests/storage/test_storage_db.py fails until it matches)."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar, Generic, TypeVar

from sqlalchemy import (
    JSON,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncAttrs
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from storage.roles import Role, UnitKind

# Deterministic constraint names on every backend, so that later migrations can drop or alter a
# constraint by name (SQLite batch mode needs names too).
NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

PERSON_SOURCES = ("directory", "chat")
OUTBOX_STATUSES = ("pending", "sent", "dead")
OUTBOX_TARGET_KINDS = ("group", "user")


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite would otherwise hand back naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


E = TypeVar("E", bound=StrEnum)


class StrEnumType(TypeDecorator[E], Generic[E]):
    """A StrEnum stored as its plain string value (VARCHAR, no database enum type, so adding a role
    needs no migration). Loaded values come back as enum members; unknown values are refused on write."""

    impl = String
    cache_ok = True

    def __init__(self, enum_class: type[E], length: int) -> None:
        super().__init__(length)
        self.enum_class = enum_class

    def process_bind_param(self, value: E | str | None, dialect: Dialect) -> str | None:
        return None if value is None else self.enum_class(value).value

    def process_result_value(self, value: str | None, dialect: Dialect) -> E | None:
        return None if value is None else self.enum_class(value)


class Base(AsyncAttrs, DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON,
        list[Any]: JSON,
    }


class Unit(Base):
    """A node of the hierarchy: street → community → grid → micro-grid → building."""

    __tablename__ = "units"
    __table_args__ = (
        # Siblings have distinct names: the directory import matches units by (parent, name).
        # NULLs are distinct, so this does not stop two streets of one name; the import keeps one street.
        UniqueConstraint("parent_id", "name", name="uq_units_parent_name"),
        CheckConstraint("parent_id IS NOT NULL OR kind = 'street'", name="root_is_street"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[UnitKind] = mapped_column(StrEnumType(UnitKind, 16))
    name: Mapped[str] = mapped_column(String(100))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("units.id", ondelete="RESTRICT"), index=True)
    # Free-form facts from the directory (households, layout, …) that no query filters on.
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)

    parent: Mapped[Unit | None] = relationship(remote_side=[id], back_populates="children")
    children: Mapped[list[Unit]] = relationship(back_populates="parent")
    # A unit's groups go with it; the database cascades, so the ORM need not load them to delete.
    groups: Mapped[list[Group]] = relationship(
        back_populates="unit", cascade="all, delete-orphan", passive_deletes=True, order_by="Group.id"
    )


class Group(Base):
    """A chat group on one platform, attached to the unit it serves (usually a building)."""

    __tablename__ = "groups"
    __table_args__ = (UniqueConstraint("platform", "external_id", name="uq_groups_platform_external"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(100), default="")
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id", ondelete="CASCADE"), index=True)

    unit: Mapped[Unit] = relationship(back_populates="groups")


class Person(Base):
    """Anyone the bot knows: directory persons (with a stable key) and residents met in a group."""

    __tablename__ = "persons"
    __table_args__ = (
        CheckConstraint("source IN ('directory', 'chat')", name="source"),
        # Re-import matches directory persons on their key, so they must have one.
        CheckConstraint("source = 'chat' OR key IS NOT NULL", name="directory_has_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str | None] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[Role] = mapped_column(StrEnumType(Role, 32), index=True)
    # What people call the post (党委书记, 社区民警); shown next to the name, never used for routing.
    title: Mapped[str | None] = mapped_column(String(50))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id", ondelete="SET NULL"), index=True)
    phone: Mapped[str | None] = mapped_column(String(32))
    # "directory" persons are owned by the directory file; "chat" persons were met in a group.
    source: Mapped[str] = mapped_column(String(16), default="directory")
    created_at: Mapped[datetime] = mapped_column(default=lambda: datetime.now(UTC))

    unit: Mapped[Unit | None] = relationship()
    accounts: Mapped[list[Account]] = relationship(
        back_populates="person", cascade="all, delete-orphan", order_by="Account.id"
    )

    def account_on(self, platform: str) -> Account | None:
        """The person's first account on a platform (needs `accounts` loaded)."""
        return next((account for account in self.accounts if account.platform == platform), None)


class Account(Base):
    """A person's identity on one platform."""

    __tablename__ = "accounts"
    __table_args__ = (UniqueConstraint("platform", "external_id", name="uq_accounts_platform_external"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"), index=True)
    platform: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str] = mapped_column(String(128))
    display_name: Mapped[str] = mapped_column(String(100), default="")

    person: Mapped[Person] = relationship(back_populates="accounts")


class ProcessedMessage(Base):
    """Inbound message ids already handled, so a platform's redelivery is dropped."""

    __tablename__ = "processed_messages"

    platform: Mapped[str] = mapped_column(String(32), primary_key=True)
    message_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    # Indexed so that old ids can be pruned (redeliveries come within minutes, not months).
    received_at: Mapped[datetime] = mapped_column(index=True)


class OutboxEntry(Base):
    """An outbound action, stored before it is sent and marked when sent."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_status_due", "status", "next_attempt_at"),
        Index("ix_outbox_sent_message", "platform", "sent_message_id"),
        CheckConstraint("status IN ('pending', 'sent', 'dead')", name="status"),
        CheckConstraint("target_kind IN ('group', 'user')", name="target_kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(String(32))
    target_kind: Mapped[str] = mapped_column(String(8))  # "group" | "user"
    target_id: Mapped[str] = mapped_column(String(128))
    text: Mapped[str] = mapped_column(Text)
    mentions: Mapped[list[Any]] = mapped_column(default=list)  # [{"user_id": …, "name": …}]
    reply_to: Mapped[str | None] = mapped_column(String(128))
    # Which handler asked ("requests.followup:12"), so a reply to this message can be routed back to it.
    origin: Mapped[str | None] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(8), default="pending")  # pending | sent | dead
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # delivery attempts, failed or not
    created_at: Mapped[datetime]
    next_attempt_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    sent_message_id: Mapped[str | None] = mapped_column(String(128))
    last_error: Mapped[str | None] = mapped_column(Text)


def load_all_models() -> MetaData:
    """Import every module of the storage package so that all their tables are on Base.metadata
    (models live in models.py and in feature modules such as requests.py); returns the metadata.
    Alembic's env.py and the schema test use this, so a new module's tables are never missed."""
    import importlib
    import pkgutil

    import storage

    for module in pkgutil.iter_modules(storage.__path__):
        if not module.ispkg and not module.name.startswith("_"):
            importlib.import_module(f"storage.{module.name}")
    return Base.metadata
