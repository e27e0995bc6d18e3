"""CRM sync state: where each pull left off (``crm_checkpoints``), the durable outbox of
leads to push into CRMs (``crm_outbox``), and what we know of the CRMs' person records
(``crm_contacts``)."""

from __future__ import annotations

import uuid

from sqlalchemy import ForeignKey, Index, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from tracker.models.base import Base, BigInt, optional_timestamp, timestamp


class CrmCheckpoint(Base):
    """One site's pull from one CRM: every deal modified before ``since`` is in the inbox.

    Advanced after each stored page, in the page's transaction, so an interrupted
    ``crm sync`` resumes where it stopped."""

    __tablename__ = "crm_checkpoints"

    site_id: Mapped[int] = mapped_column(
        BigInt, ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True
    )
    provider: Mapped[str] = mapped_column(String(20), primary_key=True)
    since: Mapped[optional_timestamp]
    pages: Mapped[int] = mapped_column(Integer(), nullable=False, default=0)
    deals: Mapped[int] = mapped_column(Integer(), nullable=False, default=0)
    updated_at: Mapped[timestamp]


class CrmOutbox(Base):
    """A lead to upsert into a CRM, written in the transaction that created the lead or
    changed its stage. ``pending`` rows are delivered by ``crm push`` with the lead's state
    at delivery time, retried with backoff (``attempts``, ``next_attempt_at``) until
    ``sent``; a refusal that needs an operator leaves them ``failed``, kept and re-queueable.
    """

    __tablename__ = "crm_outbox"
    __table_args__ = (Index("ix_crm_outbox_site_status", "site_id", "status", "next_attempt_at"),)

    site_id: Mapped[int] = mapped_column(
        BigInt, ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True
    )
    id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True)
    provider: Mapped[str] = mapped_column(String(20), nullable=False)
    # No foreign key: the row outlives nothing, erasing a person deletes it explicitly.
    lead_id: Mapped[uuid.UUID] = mapped_column(Uuid(), nullable=False)
    reason: Mapped[str] = mapped_column(String(20), nullable=False)
    status: Mapped[str] = mapped_column(String(10), nullable=False)
    attempts: Mapped[int] = mapped_column(Integer(), nullable=False, default=0)
    next_attempt_at: Mapped[timestamp]
    error: Mapped[str | None] = mapped_column(Text(), nullable=True)
    # The CRM's id of the contact it was delivered to.
    external_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[timestamp]
    sent_at: Mapped[optional_timestamp]


class CrmContact(Base):
    """One of a CRM's person records (a Pipedrive person, a Salesforce lead) as last reported:
    its email and phone, and our lead id when the record carries it or we pushed the lead
    into it. A deal that names its person by the CRM's id only finds its lead here. Later
    reports replace earlier ones by CRM time (``reported_at``, ties by ``report_id``)."""

    __tablename__ = "crm_contacts"
    __table_args__ = (
        Index("ix_crm_contacts_site_email", "site_id", "email"),
        Index("ix_crm_contacts_site_lead", "site_id", "lead_id"),
    )

    site_id: Mapped[int] = mapped_column(
        BigInt, ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True
    )
    provider: Mapped[str] = mapped_column(String(20), primary_key=True)
    external_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    email: Mapped[str | None] = mapped_column(String(254), nullable=True)
    phone: Mapped[str | None] = mapped_column(String(40), nullable=True)
    # No foreign key: erasing a person clears it (tracker.leads.erasure).
    lead_id: Mapped[uuid.UUID | None] = mapped_column(Uuid(), nullable=True)
    reported_at: Mapped[timestamp]
    report_id: Mapped[str] = mapped_column(String(128), nullable=False)
