"""Sessions: a visitor's run of events, tagged with the marketing touch that started it."""

from __future__ import annotations

import uuid

from sqlalchemy import ForeignKeyConstraint, Index, SmallInteger, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from tracker.models.base import (
    Base,
    BigInt,
    optional_text,
    optional_timestamp,
    timestamp,
    url_text,
)


class VisitSession(Base):
    """One session (table ``sessions``). Its id is derived from the event that opened it, so
    two deliveries of that event can never open two sessions."""

    __tablename__ = "sessions"
    __table_args__ = (
        ForeignKeyConstraint(
            ["site_id", "visitor_id"], ["visitors.site_id", "visitors.id"], ondelete="CASCADE"
        ),
        Index("ix_sessions_site_visitor_started", "site_id", "visitor_id", "started_at"),
        Index("ix_sessions_site_started", "site_id", "started_at"),
        Index("ix_sessions_site_channel_started", "site_id", "channel", "started_at"),
    )

    site_id: Mapped[int] = mapped_column(BigInt, primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True)
    visitor_id: Mapped[str] = mapped_column(String(64), nullable=False)
    started_at: Mapped[timestamp]
    ended_at: Mapped[timestamp]
    landing_url: Mapped[url_text]
    referrer: Mapped[url_text]
    referrer_host: Mapped[optional_text]
    channel: Mapped[str] = mapped_column(String(40), nullable=False)
    source: Mapped[optional_text]
    medium: Mapped[optional_text]
    campaign: Mapped[optional_text]
    term: Mapped[optional_text]
    content: Mapped[optional_text]
    click_id_kind: Mapped[str | None] = mapped_column(String(16), nullable=True)
    click_id: Mapped[str | None] = mapped_column(String(512), nullable=True)
    click_seen_at: Mapped[optional_timestamp]
    channel_rules_version: Mapped[str] = mapped_column(String(40), nullable=False)
    device_type: Mapped[str | None] = mapped_column(String(16), nullable=True)
    browser: Mapped[optional_text]
    os: Mapped[optional_text]
    ip_prefix: Mapped[str | None] = mapped_column(String(64), nullable=True)
    screen_width: Mapped[int | None] = mapped_column(SmallInteger(), nullable=True)
    language: Mapped[str | None] = mapped_column(String(35), nullable=True)
