"""Dashboard users: creation with a hashed password, login checks, and which sites a user
may open (the sites granted to them, or every site for an admin).

Passwords are hashed with werkzeug's salted scrypt; only the hash is stored and the plain
password is never logged nor echoed. New passwords follow :mod:`tracker.accounts.passwords`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from tracker.accounts.passwords import check_new_password
from tracker.errors import Forbidden, NotFound, Unauthorized, ValidationError
from tracker.models import Site, User, UserSite
from tracker.models.base import utcnow
from tracker.validation import normalise_email

# Checked when the email is unknown, so a login takes as long whether or not the user exists.
_DUMMY_HASH = generate_password_hash("never a real password")


def create_user(
    session: Session,
    email: str,
    password: str,
    *,
    is_admin: bool = False,
    site_ids: Iterable[int] = (),
    now: dt.datetime | None = None,
) -> User:
    """Add a user granted ``site_ids``. Raises :class:`ValidationError` for a bad email,
    a password the rule of :mod:`tracker.accounts.passwords` refuses, an existing email or an
    unknown
    site."""
    address = normalise_email(email)
    if session.scalars(select(User.id).where(User.email == address)).first() is not None:
        raise ValidationError("a user with this email exists", field="email")
    user = User(
        email=address,
        password_hash=generate_password_hash(check_new_password(password, address)),
        is_admin=is_admin,
        created_at=now or utcnow(),
    )
    session.add(user)
    session.flush()
    for site_id in dict.fromkeys(site_ids):
        grant_site(session, user, site_id)
    return user


def set_password(session: Session, user: User, password: str) -> None:
    """Replace ``user``'s password and sign them out everywhere (every session cookie issued
    before carries the old generation)."""
    user.password_hash = generate_password_hash(check_new_password(password, user.email))
    end_sessions(user)


def end_sessions(user: User) -> None:
    """Recall every session cookie of ``user`` (see ``User.session_generation``)."""
    user.session_generation += 1


def grant_site(session: Session, user: User, site_id: int) -> None:
    if session.get(Site, site_id) is None:
        raise ValidationError(f"no site {site_id}", field="site")
    if session.get(UserSite, (site_id, user.id)) is None:
        session.add(UserSite(site_id=site_id, user_id=user.id))
        session.flush()


def authenticate(session: Session, email: str, password: str) -> User:
    """The user with this email and password; :class:`Unauthorized` (one message for both
    an unknown email and a wrong password) otherwise. Records the login time."""
    address = email.strip().lower()
    user = session.scalars(select(User).where(User.email == address)).first()
    stored = user.password_hash if user is not None else _DUMMY_HASH
    if not check_password_hash(stored, password) or user is None:
        raise Unauthorized("wrong email or password", field="password")
    user.last_login_at = utcnow()
    return user


def visible_sites(session: Session, user: User) -> list[Site]:
    """The sites ``user`` may open, by id."""
    query = select(Site).order_by(Site.id)
    if not user.is_admin:
        granted = select(UserSite.site_id).where(UserSite.user_id == user.id)
        query = query.where(Site.id.in_(granted))
    return list(session.scalars(query))


def site_for_user(session: Session, user: User, site_id: int) -> Site:
    """Site ``site_id`` if ``user`` may open it: :class:`NotFound` for no such site and
    :class:`Forbidden` for another tenant's."""
    site = session.get(Site, site_id)
    if site is None:
        raise NotFound(f"no site {site_id}", field="site")
    if not user.is_admin and session.get(UserSite, (site_id, user.id)) is None:
        raise Forbidden("you have no access to this site", field="site")
    return site
