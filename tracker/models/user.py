"""Dashboard users and the sites each may open.

Users are global principals, like the sites they are granted: they belong to no tenant, so
``users`` is the one table (with ``sites``) whose key does not start with ``site_id``.
``user_sites`` does, and an admin sees every site without rows there.
"""

from __future__ import annotations

from sqlalchemy import Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from tracker.models.base import Base, BigInt, optional_timestamp, timestamp


class User(Base):
    """A dashboard login: a normalised email and a salted password hash (werkzeug)."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigInt, primary_key=True, autoincrement=True)
    email: Mapped[str] = mapped_column(String(254), nullable=False, unique=True)
    password_hash: Mapped[str] = mapped_column(String(256), nullable=False)
    is_admin: Mapped[bool] = mapped_column(Boolean(), nullable=False, default=False)
    created_at: Mapped[timestamp]
    last_login_at: Mapped[optional_timestamp]
    # Sessions signed with another generation are refused: signing out and changing the
    # password increment it, recalling every cookie issued before.
    session_generation: Mapped[int] = mapped_column(
        Integer(), nullable=False, default=0, server_default="0"
    )


class UserSite(Base):
    """A site a (non-admin) user may open in the dashboard."""

    __tablename__ = "user_sites"

    site_id: Mapped[int] = mapped_column(
        BigInt, ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        BigInt, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
