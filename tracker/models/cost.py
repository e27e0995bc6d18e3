"""Ad spend per day and grouping, and the exchange rates that convert it to site currency."""

from __future__ import annotations

import datetime as dt
import decimal
import uuid

from sqlalchemy import Date, ForeignKey, Index, Numeric, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from tracker.models.base import Base, BigInt, timestamp

Money = Numeric(16, 4)


class Cost(Base):
    """Spend for one day and grouping from one origin. Missing dimensions are stored as ''
    (not NULL) so the natural key is unique: importing the same day and grouping again
    replaces the amount. ``origin`` is '' for CSV/API imports and ``<platform>:<account>``
    for an ad account's pulled rows (a pull replaces its own days, never an import's)."""

    __tablename__ = "costs"
    __table_args__ = (
        UniqueConstraint(
            "site_id", "origin", "day", "channel", "source", "medium", "campaign", "keyword"
        ),
        Index("ix_costs_site_day", "site_id", "day"),
    )

    site_id: Mapped[int] = mapped_column(
        BigInt, ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True
    )
    id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True)
    origin: Mapped[str] = mapped_column(String(80), nullable=False, default="", server_default="")
    day: Mapped[dt.date] = mapped_column(Date(), nullable=False)
    channel: Mapped[str] = mapped_column(String(40), nullable=False)
    source: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    medium: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    campaign: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    keyword: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    amount: Mapped[decimal.Decimal] = mapped_column(Money, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    # In the site's currency at import time; reports sum this column.
    amount_site: Mapped[decimal.Decimal] = mapped_column(Money, nullable=False)
    # What the platform reported with the spend; NULL where the source did not say (imports).
    impressions: Mapped[int | None] = mapped_column(BigInt, nullable=True)
    clicks: Mapped[int | None] = mapped_column(BigInt, nullable=True)
    imported_at: Mapped[timestamp]
    import_name: Mapped[str | None] = mapped_column(String(200), nullable=True)


class ExchangeRate(Base):
    """Units of the site's currency for one unit of ``currency``, from ``valid_from`` on."""

    __tablename__ = "exchange_rates"

    site_id: Mapped[int] = mapped_column(
        BigInt, ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True
    )
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    valid_from: Mapped[dt.date] = mapped_column(Date(), primary_key=True)
    rate: Mapped[decimal.Decimal] = mapped_column(Numeric(18, 8), nullable=False)
