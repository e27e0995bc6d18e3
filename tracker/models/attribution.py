"""Stored attribution: each conversion's touches with the credit every model gives them, and
what the data-driven models learned when they were last fitted.

Rows are denormalised on purpose (the touch's channel, source, campaign... and the
conversion's time sit on every credit row), so a revenue report is one ``GROUP BY`` over one
index range instead of a join per figure (DESIGN section 8: aggregation runs in the database).
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Uuid,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from tracker.models.base import (
    Base,
    BigInt,
    optional_text,
    optional_timestamp,
    timestamp,
    url_text,
)


class AttributionCredit(Base):
    """One touch of one conversion under one model.

    ``conversion`` is ``lead`` (keyed by the lead id), ``opportunity`` or ``won`` (keyed by
    the deal id). A conversion without any touch in its lookback window has one row with
    ``touch_kind = 'none'`` and channel ``(unattributed)`` so totals still add up.
    ``seconds_to_convert`` is first touch → lead for lead conversions and lead → conversion
    for the others.
    """

    __tablename__ = "attribution_credits"
    __table_args__ = (
        ForeignKeyConstraint(
            ["site_id", "lead_id"], ["leads.site_id", "leads.id"], ondelete="CASCADE"
        ),
        Index(
            "ix_attribution_credits_site_model_conversion_at",
            "site_id",
            "model",
            "conversion",
            "converted_at",
        ),
        Index("ix_attribution_credits_site_lead", "site_id", "lead_id"),
        Index(
            "ix_attribution_credits_site_deal_closed_at",
            "site_id",
            "deal_closed_at",
            postgresql_where=text("deal_closed_at IS NOT NULL"),
            sqlite_where=text("deal_closed_at IS NOT NULL"),
        ),
    )

    site_id: Mapped[int] = mapped_column(BigInt, primary_key=True)
    model: Mapped[str] = mapped_column(String(40), primary_key=True)
    conversion: Mapped[str] = mapped_column(String(12), primary_key=True)
    conversion_id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True)
    position: Mapped[int] = mapped_column(Integer(), primary_key=True)
    lead_id: Mapped[uuid.UUID] = mapped_column(Uuid(), nullable=False)
    converted_at: Mapped[timestamp]
    touch_at: Mapped[optional_timestamp]
    touch_kind: Mapped[str] = mapped_column(String(8), nullable=False)
    touch_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    channel: Mapped[str] = mapped_column(String(40), nullable=False)
    source: Mapped[optional_text]
    medium: Mapped[optional_text]
    campaign: Mapped[optional_text]
    keyword: Mapped[optional_text]
    landing_page: Mapped[url_text]
    credit: Mapped[float] = mapped_column(Float(), nullable=False)
    value: Mapped[float] = mapped_column(Float(), nullable=False)
    new_customer: Mapped[bool] = mapped_column(Boolean(), nullable=False)
    seconds_to_convert: Mapped[float | None] = mapped_column(Float(), nullable=True)
    # What the credit rollups count, kept with the row so a rollup is a pure sum over credit
    # rows (the worker subtracts a lead's old rows and adds its new ones): the furthest funnel
    # stage of the lead (lead conversions) and the deal's status and reported closing
    # (opportunity conversions; win-rate credit is dated by the closing).
    stage_rank: Mapped[int | None] = mapped_column(SmallInteger(), nullable=True)
    deal_status: Mapped[str | None] = mapped_column(String(8), nullable=True)
    deal_closed_at: Mapped[optional_timestamp]


class AttributionFit(Base):
    """A model's state for one site and conversion type: the settings fingerprint it was
    computed with and, for data-driven models, the learned per-channel shares."""

    __tablename__ = "attribution_fits"

    site_id: Mapped[int] = mapped_column(
        BigInt, ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True
    )
    model: Mapped[str] = mapped_column(String(40), primary_key=True)
    conversion: Mapped[str] = mapped_column(String(12), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64), nullable=False)
    channels: Mapped[list[str]] = mapped_column(JSON(), nullable=False, default=list)
    conversion_shares: Mapped[list[float]] = mapped_column(JSON(), nullable=False, default=list)
    value_shares: Mapped[list[float]] = mapped_column(JSON(), nullable=False, default=list)
    details: Mapped[dict[str, Any]] = mapped_column(JSON(), nullable=False, default=dict)
    fitted_at: Mapped[timestamp]


class LeadCreditDigest(Base):
    """A digest of every stored credit row of one lead (all models, all its conversions), as
    :func:`tracker.credits.store.refresh_leads` last wrote or confirmed them.

    A refresh compares a lead's recomputed rows with this digest instead of reading the rows
    back, so the leads whose credit did not move (most of what the queue holds) cost no read
    of ``attribution_credits``. A rebuild of every model writes every lead's digest with its
    rows (tracker/credits/digests.py); whatever else writes credit rows (a rebuild of some
    models, a dropped model) deletes the site's digests; a missing or different digest only
    means the rows are read and compared."""

    __tablename__ = "lead_credit_digests"
    __table_args__ = (
        ForeignKeyConstraint(
            ["site_id", "lead_id"], ["leads.site_id", "leads.id"], ondelete="CASCADE"
        ),
    )

    site_id: Mapped[int] = mapped_column(BigInt, primary_key=True)
    lead_id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True)
    digest: Mapped[bytes] = mapped_column(LargeBinary(16), nullable=False)
