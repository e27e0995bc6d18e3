"""Segment identities: which visitors (anonymousIds, alias previousIds) a Segment ``userId``
was seen with, so that an identify naming an email later stitches every one of them."""

from __future__ import annotations

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from tracker.models.base import Base, BigInt, timestamp


class SegmentUser(Base):
    __tablename__ = "segment_users"
    __table_args__ = (Index("ix_segment_users_site_visitor", "site_id", "visitor_id"),)

    site_id: Mapped[int] = mapped_column(
        BigInt, ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True
    )
    # Segment allows any string as a userId; ours keeps up to 256 characters.
    user_id: Mapped[str] = mapped_column(String(256), primary_key=True)
    visitor_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    first_seen_at: Mapped[timestamp]
