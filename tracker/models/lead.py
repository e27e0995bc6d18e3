"""Leads: people who gave contact details, the visitors (devices) they own over time, their
stage history and score history."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import (
    JSON,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from tracker.models.base import (
    Base,
    BigInt,
    optional_text,
    optional_timestamp,
    timestamp,
)


class Lead(Base):
    """A person, found again by normalised email (unique per site)."""

    __tablename__ = "leads"
    __table_args__ = (
        UniqueConstraint("site_id", "email"),
        Index("ix_leads_site_created", "site_id", "created_at"),
        Index("ix_leads_site_stage", "site_id", "stage"),
    )

    site_id: Mapped[int] = mapped_column(
        BigInt, ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True
    )
    id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True)
    email: Mapped[str] = mapped_column(String(254), nullable=False)
    name: Mapped[optional_text]
    phone: Mapped[str | None] = mapped_column(String(40), nullable=True)
    company: Mapped[optional_text]
    created_at: Mapped[timestamp]
    updated_at: Mapped[timestamp]
    stage: Mapped[str] = mapped_column(String(20), nullable=False)
    stage_changed_at: Mapped[timestamp]
    score: Mapped[int] = mapped_column(Integer(), nullable=False, default=0)
    # The lead's earliest session (first touch) and the one in which it identified.
    first_session_id: Mapped[uuid.UUID | None] = mapped_column(Uuid(), nullable=True)
    creation_session_id: Mapped[uuid.UUID | None] = mapped_column(Uuid(), nullable=True)
    source_of_creation: Mapped[str] = mapped_column(String(20), nullable=False)
    crm_ids: Mapped[dict[str, Any]] = mapped_column(JSON(), nullable=False, default=dict)
    # The ad platforms' browser ids seen when the lead identified (``ga_client_id`` from the
    # ``_ga`` cookie, Meta's ``fbp`` / ``fbc``): conversions sent later must carry them.
    ad_ids: Mapped[dict[str, Any]] = mapped_column(
        JSON(), nullable=False, default=dict, server_default="{}"
    )


class LeadVisitor(Base):
    """A visitor (browser) owned by a lead during ``[valid_from, valid_to)``.

    ``valid_from`` NULL means "since the visitor's first visit": identifying back-fills every
    earlier session. When a visitor later identifies with another email, its open link is
    closed at the start of that session and a new one opens: earlier sessions stay with the
    first lead, later ones follow the new one.
    """

    __tablename__ = "lead_visitors"
    __table_args__ = (
        ForeignKeyConstraint(
            ["site_id", "lead_id"], ["leads.site_id", "leads.id"], ondelete="CASCADE"
        ),
        ForeignKeyConstraint(
            ["site_id", "visitor_id"], ["visitors.site_id", "visitors.id"], ondelete="CASCADE"
        ),
        Index("ix_lead_visitors_site_visitor", "site_id", "visitor_id"),
        Index("ix_lead_visitors_site_lead", "site_id", "lead_id"),
    )

    site_id: Mapped[int] = mapped_column(BigInt, primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True)
    lead_id: Mapped[uuid.UUID] = mapped_column(Uuid(), nullable=False)
    visitor_id: Mapped[str] = mapped_column(String(64), nullable=False)
    valid_from: Mapped[optional_timestamp]
    valid_to: Mapped[optional_timestamp]
    linked_at: Mapped[timestamp]


class StageChange(Base):
    """One stage transition with its time and cause (score, crm, manual, identify)."""

    __tablename__ = "lead_stage_changes"
    __table_args__ = (
        ForeignKeyConstraint(
            ["site_id", "lead_id"], ["leads.site_id", "leads.id"], ondelete="CASCADE"
        ),
        Index("ix_lead_stage_changes_site_lead", "site_id", "lead_id", "changed_at"),
        Index("ix_lead_stage_changes_site_to_changed", "site_id", "to_stage", "changed_at"),
    )

    site_id: Mapped[int] = mapped_column(BigInt, primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True)
    lead_id: Mapped[uuid.UUID] = mapped_column(Uuid(), nullable=False)
    from_stage: Mapped[str | None] = mapped_column(String(20), nullable=True)
    to_stage: Mapped[str] = mapped_column(String(20), nullable=False)
    changed_at: Mapped[timestamp]
    cause: Mapped[str] = mapped_column(String(20), nullable=False)
    detail: Mapped[optional_text]


class ScoreChange(Base):
    """One scoring rule firing for a lead: the score history."""

    __tablename__ = "lead_score_changes"
    __table_args__ = (
        ForeignKeyConstraint(
            ["site_id", "lead_id"], ["leads.site_id", "leads.id"], ondelete="CASCADE"
        ),
        Index("ix_lead_score_changes_site_lead", "site_id", "lead_id", "scored_at"),
    )

    site_id: Mapped[int] = mapped_column(BigInt, primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True)
    lead_id: Mapped[uuid.UUID] = mapped_column(Uuid(), nullable=False)
    rule: Mapped[str] = mapped_column(String(80), nullable=False)
    points: Mapped[int] = mapped_column(Integer(), nullable=False)
    score_after: Mapped[int] = mapped_column(Integer(), nullable=False)
    scored_at: Mapped[timestamp]


class OfflineTouch(Base):
    """A touch without a web session: a call, a trade show, a CRM activity."""

    __tablename__ = "offline_touches"
    __table_args__ = (
        ForeignKeyConstraint(
            ["site_id", "lead_id"], ["leads.site_id", "leads.id"], ondelete="CASCADE"
        ),
        Index("ix_offline_touches_site_lead", "site_id", "lead_id", "occurred_at"),
    )

    site_id: Mapped[int] = mapped_column(BigInt, primary_key=True)
    # Caller-supplied id: a retried request is ignored.
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    lead_id: Mapped[uuid.UUID] = mapped_column(Uuid(), nullable=False)
    kind: Mapped[str] = mapped_column(String(40), nullable=False)
    occurred_at: Mapped[timestamp]
    channel: Mapped[str] = mapped_column(String(40), nullable=False)
    source: Mapped[optional_text]
    medium: Mapped[optional_text]
    campaign: Mapped[optional_text]
    term: Mapped[optional_text]
    content: Mapped[optional_text]
    note: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    created_at: Mapped[timestamp]
