"""Sites (the tenants) and their secret API keys."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from tracker.models.base import Base, BigInt, json_object, optional_timestamp, short_text, timestamp


class Site(Base):
    """One tracked website. Its ``id`` is the ``site_id`` every other row carries.

    ``write_key`` is public (it sits in the snippet) and globally unique, because the collector
    finds the site by it before it knows the site id.
    """

    __tablename__ = "sites"

    id: Mapped[int] = mapped_column(BigInt, primary_key=True, autoincrement=True)
    name: Mapped[short_text]
    domains: Mapped[list[str]] = mapped_column(JSON(), nullable=False, default=list)
    write_key: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    settings: Mapped[json_object]
    created_at: Mapped[timestamp]


class ApiKey(Base):
    """A secret API key, stored as a salted hash; the plain key is shown once at creation."""

    __tablename__ = "api_keys"

    site_id: Mapped[int] = mapped_column(
        BigInt, ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True
    )
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[short_text]
    secret_hash: Mapped[str] = mapped_column(String(128), nullable=False)
    created_at: Mapped[timestamp]
    last_used_at: Mapped[optional_timestamp]
    revoked_at: Mapped[optional_timestamp]

    def is_active(self, now: dt.datetime) -> bool:
        return self.revoked_at is None or self.revoked_at > now
