"""Events: page views, form submits, identify calls and custom events, deduplicated by the
client-generated id."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import JSON, ForeignKeyConstraint, Index, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from tracker.models.base import Base, BigInt, optional_text, timestamp, url_text


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (
        ForeignKeyConstraint(
            ["site_id", "session_id"], ["sessions.site_id", "sessions.id"], ondelete="CASCADE"
        ),
        Index("ix_events_site_session", "site_id", "session_id"),
        Index("ix_events_site_visitor_occurred", "site_id", "visitor_id", "occurred_at"),
    )

    site_id: Mapped[int] = mapped_column(BigInt, primary_key=True)
    # Client-generated; a retried delivery carries the same id and is ignored.
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    session_id: Mapped[uuid.UUID] = mapped_column(Uuid(), nullable=False)
    visitor_id: Mapped[str] = mapped_column(String(64), nullable=False)
    type: Mapped[str] = mapped_column(String(20), nullable=False)
    name: Mapped[optional_text]
    url: Mapped[url_text]
    path: Mapped[url_text]
    title: Mapped[optional_text]
    referrer: Mapped[url_text]
    occurred_at: Mapped[timestamp]
    received_at: Mapped[timestamp]
    props: Mapped[dict[str, Any]] = mapped_column(JSON(), nullable=False, default=dict)
