"""Declarative base, naming convention and the column types every model shares.

The naming convention keeps constraint names identical on SQLite, PostgreSQL and in the
migrations, so ``alembic check`` compares like with like.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from sqlalchemy import JSON, BigInteger, DateTime, Integer, MetaData, String, TypeDecorator
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timestamp stored in UTC and always read back timezone-aware.

    SQLite has no time zone type; without this a value written aware comes back naive and
    comparisons between the two raise.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = dt.datetime.fromisoformat(value)
        if value.tzinfo is None:
            naive: dt.datetime = value.replace(tzinfo=dt.UTC)
            return naive
        result: dt.datetime = value.astimezone(dt.UTC)
        return result


# BigInteger is "INTEGER" on SQLite so that it can still be a rowid alias where needed.
BigInt = BigInteger().with_variant(Integer(), "sqlite")

timestamp = Annotated[dt.datetime, mapped_column(UTCDateTime(), nullable=False)]
optional_timestamp = Annotated[dt.datetime | None, mapped_column(UTCDateTime(), nullable=True)]
short_text = Annotated[str, mapped_column(String(200), nullable=False)]
optional_text = Annotated[str | None, mapped_column(String(200), nullable=True)]
url_text = Annotated[str | None, mapped_column(String(2048), nullable=True)]
json_object = Annotated[dict[str, Any], mapped_column(JSON(), nullable=False, default=dict)]


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
