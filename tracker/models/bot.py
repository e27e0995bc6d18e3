"""Bot hits: counted per site, day and bot family instead of becoming sessions."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Date, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from tracker.models.base import Base, BigInt


class BotHit(Base):
    __tablename__ = "bot_hits"

    site_id: Mapped[int] = mapped_column(
        BigInt, ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[dt.date] = mapped_column(Date(), primary_key=True)
    family: Mapped[str] = mapped_column(String(80), primary_key=True)
    hits: Mapped[int] = mapped_column(Integer(), nullable=False, default=0)
