"""CRM deals linked to leads, and the durable inbox of CRM deliveries."""

from __future__ import annotations

import decimal
import uuid
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from tracker.models.base import Base, BigInt, optional_text, optional_timestamp, timestamp


class Deal(Base):
    """One CRM opportunity. Each field remembers the time of the event that set it
    (``field_times``), so updates apply in any order and twice without changing the result."""

    __tablename__ = "deals"
    __table_args__ = (
        UniqueConstraint("site_id", "provider", "external_id"),
        Index("ix_deals_site_lead", "site_id", "lead_id"),
        Index("ix_deals_site_status_closed", "site_id", "status", "closed_at"),
        Index("ix_deals_site_contact", "site_id", "provider", "external_contact_id"),
        Index("ix_deals_site_converted_from", "site_id", "provider", "converted_from_id"),
    )

    site_id: Mapped[int] = mapped_column(
        BigInt, ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True
    )
    id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True)
    provider: Mapped[str] = mapped_column(String(20), nullable=False)
    external_id: Mapped[str] = mapped_column(String(64), nullable=False)
    # No foreign key: erasing a person keeps the revenue, unlinked.
    lead_id: Mapped[uuid.UUID | None] = mapped_column(Uuid(), nullable=True)
    contact_email: Mapped[str | None] = mapped_column(String(254), nullable=True)
    contact_phone: Mapped[str | None] = mapped_column(String(40), nullable=True)
    external_contact_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # The CRM's lead record this opportunity was converted from (Salesforce), if any.
    converted_from_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    name: Mapped[optional_text]
    amount: Mapped[decimal.Decimal | None] = mapped_column(Numeric(16, 4), nullable=True)
    currency: Mapped[str | None] = mapped_column(String(3), nullable=True)
    stage: Mapped[optional_text]
    status: Mapped[str] = mapped_column(String(10), nullable=False)
    owner: Mapped[optional_text]
    created_at: Mapped[optional_timestamp]
    closed_at: Mapped[optional_timestamp]
    deleted: Mapped[bool] = mapped_column(Boolean(), nullable=False, default=False)
    field_times: Mapped[dict[str, Any]] = mapped_column(JSON(), nullable=False, default=dict)
    last_event_at: Mapped[timestamp]
    updated_at: Mapped[timestamp]


class CrmEvent(Base):
    """One webhook delivery exactly as received (or one deal version pulled from a CRM's API):
    stored before it is acknowledged, applied after, replayable. A redelivery of the same
    body, or the same version pulled again, is the same row."""

    __tablename__ = "crm_events"
    __table_args__ = (
        UniqueConstraint("site_id", "provider", "delivery_key"),
        Index("ix_crm_events_site_status", "site_id", "status", "received_at"),
    )

    site_id: Mapped[int] = mapped_column(
        BigInt, ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True
    )
    id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True)
    provider: Mapped[str] = mapped_column(String(20), nullable=False)
    # How it came: ``webhook`` (the body as posted) or ``pull`` (one deal record as the
    # provider's API returned it, from ``crm sync``).
    source: Mapped[str] = mapped_column(
        String(10), nullable=False, default="webhook", server_default="webhook"
    )
    # The provider's delivery or event id when it has one, else a hash of the body.
    delivery_key: Mapped[str] = mapped_column(String(128), nullable=False)
    received_at: Mapped[timestamp]
    headers: Mapped[dict[str, Any]] = mapped_column(JSON(), nullable=False, default=dict)
    body: Mapped[bytes] = mapped_column(LargeBinary(), nullable=False)
    status: Mapped[str] = mapped_column(String(10), nullable=False)
    error: Mapped[str | None] = mapped_column(Text(), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer(), nullable=False, default=0)
    applied_at: Mapped[optional_timestamp]
