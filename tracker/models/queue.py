"""The refresh queue: what became stale and must be recomputed by the worker.

A write records its facts and, in the same transaction, one row per stale thing (a lead's
credits, a day of traffic, a site's settings). Rows are keyed by what they name, so noting
the same thing twice leaves one row; ``version`` grows with every note, so a worker that
finished an item only deletes it when nothing noted it again meanwhile.
"""

from __future__ import annotations

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from tracker.models.base import Base, BigInt, optional_timestamp, timestamp


class RefreshItem(Base):
    """One stale thing of one site. ``kind`` says what (``lead``, ``traffic``, ``credits``,
    ``settings``, ``fit``) and ``key`` which one (a lead id, a UTC day, a model name).

    A worker claims rows by setting ``claimed_by``/``claimed_until`` (a lease: a worker that
    dies leaves rows that another takes once the lease ran out) and deletes them when done.
    """

    __tablename__ = "refresh_queue"
    __table_args__ = (Index("ix_refresh_queue_site_due", "site_id", "available_at"),)

    site_id: Mapped[int] = mapped_column(
        BigInt, ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer(), nullable=False, default=1)
    # When the oldest unprocessed note of this row was made: the freshness lag.
    enqueued_at: Mapped[timestamp]
    # Not before this time (backoff after a failure).
    available_at: Mapped[timestamp]
    claimed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    claimed_until: Mapped[optional_timestamp]
    attempts: Mapped[int] = mapped_column(Integer(), nullable=False, default=0)
    last_error: Mapped[str | None] = mapped_column(Text(), nullable=True)
