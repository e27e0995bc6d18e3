"""Connected ad accounts: how to reach each platform's reporting API, how its rows map to our
channel / source / medium / campaign / keyword, and where its daily pull left off. The spend
itself lands in ``costs`` (``origin`` = ``<platform>:<account id>``)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from tracker.models.base import Base, BigInt, optional_timestamp, timestamp


class AdAccount(Base):
    """One ad account of a site on one platform (google_ads, meta, microsoft_ads, linkedin).

    ``synced_through`` is the checkpoint: every day from ``start_day`` to it has been pulled
    and stored. Each pull starts a trailing window before it (platforms restate recent days)
    and moves it forward after every stored chunk of days, so an interrupted pull resumes.
    ``next_pull_at`` makes the row the worker's queue item; ``pull_started_at`` is the lease
    of the worker pulling it now."""

    __tablename__ = "ad_accounts"
    __table_args__ = (
        UniqueConstraint("site_id", "platform", "account_id"),
        Index("ix_ad_accounts_next_pull_at", "next_pull_at"),
    )

    site_id: Mapped[int] = mapped_column(
        BigInt, ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True
    )
    id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True)
    platform: Mapped[str] = mapped_column(String(20), nullable=False)
    account_id: Mapped[str] = mapped_column(String(64), nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    # Learned from the platform at each pull (Google: customer.currency_code / time_zone).
    currency: Mapped[str | None] = mapped_column(String(3), nullable=True)
    timezone: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # Tokens and ids (secret: never printed back, never logged); refreshed tokens are saved.
    credentials: Mapped[dict[str, Any]] = mapped_column(JSON(), nullable=False, default=dict)
    # The site's overrides of the platform's mapping defaults (tracker/costs/adspend/mapping.py).
    mapping: Mapped[dict[str, Any]] = mapped_column(JSON(), nullable=False, default=dict)
    start_day: Mapped[dt.date] = mapped_column(Date(), nullable=False)
    synced_through: Mapped[dt.date | None] = mapped_column(Date(), nullable=True)
    next_pull_at: Mapped[timestamp]
    pull_started_at: Mapped[optional_timestamp]
    last_success_at: Mapped[optional_timestamp]
    last_error: Mapped[str | None] = mapped_column(Text(), nullable=True)
    last_rows: Mapped[int] = mapped_column(Integer(), nullable=False, default=0)
    created_at: Mapped[timestamp]
