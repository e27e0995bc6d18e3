"""Visitors: one browser, known by the random id in its first-party cookie."""

from __future__ import annotations

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from tracker.models.base import Base, BigInt, timestamp


class Visitor(Base):
    __tablename__ = "visitors"

    site_id: Mapped[int] = mapped_column(
        BigInt, ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True
    )
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    first_seen_at: Mapped[timestamp]
    last_seen_at: Mapped[timestamp]
