"""Call tracking: the site's call settings, number pools and their numbers, which visitor or
source held a number when (assignments), and the calls the providers reported."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from tracker.models.base import Base, BigInt, optional_timestamp, timestamp


class CallSettings(Base):
    __tablename__ = "call_settings"

    site_id: Mapped[int] = mapped_column(
        BigInt, ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True
    )
    # Shown where no pool applies, to browsers without JavaScript and when a pool is used up.
    default_number: Mapped[str | None] = mapped_column(String(16))
    default_display: Mapped[str | None] = mapped_column(String(40))
    # Calls shorter than this are kept and reported but make no lead (wrong numbers, spam).
    min_duration_s: Mapped[int] = mapped_column(Integer, default=0)
    # Secrets checked against each provider's signature, newest first (rotation).
    twilio_auth_tokens: Mapped[list[str]] = mapped_column(JSON, default=list)
    callrail_signing_keys: Mapped[list[str]] = mapped_column(JSON, default=list)
    generic_secrets: Mapped[list[str]] = mapped_column(JSON, default=list)


class CallPool(Base):
    __tablename__ = "call_pools"

    site_id: Mapped[int] = mapped_column(
        BigInt, ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True
    )
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)  # pools are matched in this order
    # Which sessions the pool serves: both None matches every session with a source.
    channel: Mapped[str | None] = mapped_column(String(64))
    campaign: Mapped[str | None] = mapped_column(String(255))
    # What one number stands for while held: a channel, a campaign, or one visitor.
    scope: Mapped[str] = mapped_column(String(10))
    hold_minutes: Mapped[float] = mapped_column(Float)


class CallNumber(Base):
    __tablename__ = "call_numbers"
    __table_args__ = (Index("ix_call_numbers_site_pool", "site_id", "pool_id"),)

    site_id: Mapped[int] = mapped_column(
        BigInt, ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True
    )
    number: Mapped[str] = mapped_column(String(16), primary_key=True)  # E.164
    pool_id: Mapped[str] = mapped_column(String(40))
    display: Mapped[str] = mapped_column(String(40))
    # The current lease: taken with a conditional update, so two visitors never share one.
    held_key: Mapped[str | None] = mapped_column(String(300))
    held_until: Mapped[optional_timestamp]


class CallAssignment(Base):
    """A number held for a key (channel, campaign or visitor) from ``assigned_at`` until
    ``held_until``, extended while the visitor browses: a call at time t to the number resolves
    to the assignment that held it then."""

    __tablename__ = "call_assignments"
    __table_args__ = (
        Index("ix_call_assignments_site_number", "site_id", "number", "assigned_at"),
    )

    site_id: Mapped[int] = mapped_column(
        BigInt, ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True
    )
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    pool_id: Mapped[str] = mapped_column(String(40))
    number: Mapped[str] = mapped_column(String(16))
    key: Mapped[str] = mapped_column(String(300))
    visitor_id: Mapped[str] = mapped_column(String(64))
    session_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    assigned_at: Mapped[timestamp]
    held_until: Mapped[timestamp]


class Call(Base):
    __tablename__ = "calls"
    __table_args__ = (Index("ix_calls_site_started", "site_id", "started_at"),)

    site_id: Mapped[int] = mapped_column(
        BigInt, ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True
    )
    provider: Mapped[str] = mapped_column(String(20), primary_key=True)
    call_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    called: Mapped[str] = mapped_column(String(16))
    caller: Mapped[str | None] = mapped_column(String(16))
    started_at: Mapped[timestamp]
    duration_s: Mapped[int] = mapped_column(Integer)
    answered: Mapped[bool] = mapped_column(Boolean)
    assignment_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    visitor_id: Mapped[str | None] = mapped_column(String(64))
    lead_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    # The call's source: the held session's, or the pool's when a number stood for a source.
    channel: Mapped[str | None] = mapped_column(String(64))
    source: Mapped[str | None] = mapped_column(String(255))
    medium: Mapped[str | None] = mapped_column(String(255))
    campaign: Mapped[str | None] = mapped_column(String(255))
    term: Mapped[str | None] = mapped_column(String(255))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    received_at: Mapped[timestamp]
    # The durable inbox: stored as ``received`` before the webhook is acknowledged, then
    # ``applied`` (source resolved, conversion recorded) or ``failed`` with the error, kept
    # for ``leadtrail calls replay``.
    status: Mapped[str] = mapped_column(String(10), server_default="applied")
    attempts: Mapped[int] = mapped_column(Integer, server_default="1")
    error: Mapped[str | None] = mapped_column(String(500))
    applied_at: Mapped[optional_timestamp]
