"""Ad-platform destinations of a site and the durable outbox of conversions sent to them."""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from tracker.models.base import Base, BigInt, UTCDateTime, optional_timestamp, timestamp


class Destination(Base):
    """One ad platform a site pushes conversions to (ga4, meta, google_ads, microsoft_ads,
    linkedin): which of our milestones become which platform conversion, valued how
    (``settings``), and how to reach it (``credentials``: secret, never printed back).
    ``ad_account_id`` borrows a connected ad account's OAuth tokens instead (one refresh
    token per platform login, refreshed in one place)."""

    __tablename__ = "destinations"
    __table_args__ = (UniqueConstraint("site_id", "name"),)

    site_id: Mapped[int] = mapped_column(
        BigInt, ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True
    )
    id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True)
    name: Mapped[str] = mapped_column(String(80), nullable=False)
    platform: Mapped[str] = mapped_column(String(20), nullable=False)
    enabled: Mapped[bool] = mapped_column(Boolean(), nullable=False, default=True)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON(), nullable=False, default=dict)
    credentials: Mapped[dict[str, Any]] = mapped_column(JSON(), nullable=False, default=dict)
    ad_account_id: Mapped[uuid.UUID | None] = mapped_column(Uuid(), nullable=True)
    created_at: Mapped[timestamp]
    last_delivery_at: Mapped[optional_timestamp]
    last_error: Mapped[str | None] = mapped_column(Text(), nullable=True)


class ConversionOutbox(Base):
    """One conversion (or restatement, retraction) owed to one destination, written in the
    transaction of the stage or deal change that caused it. ``idempotency_key`` is unique per
    destination, so noting the same milestone again (a redelivered webhook) adds nothing;
    it is also the order id / event id / transaction id the platform deduplicates on.
    Value and time are the milestone's, frozen when written."""

    __tablename__ = "conversion_outbox"
    __table_args__ = (
        UniqueConstraint("site_id", "destination_id", "idempotency_key"),
        Index("ix_conversion_outbox_site_status", "site_id", "status", "next_attempt_at"),
        Index("ix_conversion_outbox_site_deal", "site_id", "deal_id"),
    )

    site_id: Mapped[int] = mapped_column(
        BigInt, ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True
    )
    id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True)
    destination_id: Mapped[uuid.UUID] = mapped_column(Uuid(), nullable=False)
    idempotency_key: Mapped[str] = mapped_column(String(200), nullable=False)
    milestone: Mapped[str] = mapped_column(String(20), nullable=False)
    # conversion, restatement or retraction
    kind: Mapped[str] = mapped_column(String(12), nullable=False)
    # No foreign keys: erasure deletes a person's rows explicitly; revenue rows outlive deals.
    lead_id: Mapped[uuid.UUID] = mapped_column(Uuid(), nullable=False)
    deal_id: Mapped[uuid.UUID | None] = mapped_column(Uuid(), nullable=True)
    order_id: Mapped[str | None] = mapped_column(String(80), nullable=True)
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False)
    value: Mapped[decimal.Decimal | None] = mapped_column(Numeric(16, 4), nullable=True)
    currency: Mapped[str | None] = mapped_column(String(3), nullable=True)
    status: Mapped[str] = mapped_column(String(10), nullable=False)
    attempts: Mapped[int] = mapped_column(Integer(), nullable=False, default=0)
    next_attempt_at: Mapped[timestamp]
    error: Mapped[str | None] = mapped_column(Text(), nullable=True)
    created_at: Mapped[timestamp]
    sent_at: Mapped[optional_timestamp]
