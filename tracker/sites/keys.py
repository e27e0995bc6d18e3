"""Secret API keys and write keys.

Secret API keys look like ``lt_sk_<site id>_<key id>_<secret>``; only a salted hash of the
secret is stored, and the plain key is shown once, at creation.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from tracker.errors import NotFound, Unauthorized
from tracker.models import ApiKey, Site
from tracker.models.base import utcnow

WRITE_KEY_PREFIX = "wk_"


SECRET_KEY_PREFIX = "lt_sk_"


# A site id of at most 18 digits: always within BIGINT, so never a database error.
_SITE_ID = re.compile(r"^[1-9][0-9]{0,17}$")


_KEY_ID = re.compile(r"^[a-z0-9]{8,32}$")


# PBKDF2 with a per-key salt: API keys are long random strings, so a modest iteration count
# suffices and keeps key checks cheap on every API request.
_HASH_ITERATIONS = 10_000


# "Last used" is shown by day; once a minute keeps it exact enough without a write per request.
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class CreatedKey:
    key: ApiKey
    plain: str


def _hash_secret(secret: str, salt: bytes) -> str:
    digest = hashlib.pbkdf2_hmac("sha256", secret.encode(), salt, _HASH_ITERATIONS)
    return f"pbkdf2_sha256${_HASH_ITERATIONS}${salt.hex()}${digest.hex()}"


def _secret_matches(secret: str, stored: str) -> bool:
    try:
        _scheme, iterations, salt_hex, digest_hex = stored.split("$")
    except ValueError:
        return False
    digest = hashlib.pbkdf2_hmac(
        "sha256", secret.encode(), bytes.fromhex(salt_hex), int(iterations)
    )
    return hmac.compare_digest(digest.hex(), digest_hex)


def create_api_key(
    session: Session, site: Site, *, name: str, now: dt.datetime | None = None
) -> CreatedKey:
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(24)
    key = ApiKey(
        site_id=site.id,
        id=key_id,
        name=name.strip()[:200] or "key",
        secret_hash=_hash_secret(secret, secrets.token_bytes(16)),
        created_at=now or utcnow(),
    )
    session.add(key)
    session.flush()
    return CreatedKey(key=key, plain=f"{SECRET_KEY_PREFIX}{site.id}_{key_id}_{secret}")


def revoke_api_key(
    session: Session, site: Site, key_id: str, now: dt.datetime | None = None
) -> ApiKey:
    key = session.get(ApiKey, (site.id, key_id))
    if key is None:
        raise NotFound(f"no key {key_id!r} on site {site.name!r}", field="key")
    if key.revoked_at is None:
        key.revoked_at = now or utcnow()
    session.flush()
    return key


def list_api_keys(session: Session, site: Site) -> list[ApiKey]:
    return list(
        session.scalars(select(ApiKey).where(ApiKey.site_id == site.id).order_by(ApiKey.created_at))
    )


def authenticate_api_key(session: Session, plain: str, now: dt.datetime | None = None) -> Site:
    """The site a secret key belongs to; :class:`Unauthorized` for anything else."""
    return authenticate_api_key_of_site(session, plain, now)[1]


def authenticate_api_key_of_site(
    session: Session, plain: str, now: dt.datetime | None = None
) -> tuple[ApiKey, Site]:
    """The key and the site of a plain secret key; :class:`Unauthorized` for anything else."""
    if not plain.startswith(SECRET_KEY_PREFIX):
        raise Unauthorized("expected a secret API key (lt_sk_…)", field="authorization")
    parts = plain.removeprefix(SECRET_KEY_PREFIX).split("_", 2)
    if len(parts) != 3 or not _SITE_ID.match(parts[0]) or not _KEY_ID.match(parts[1]):
        raise Unauthorized("malformed API key", field="authorization")
    site_id, key_id, secret = int(parts[0]), parts[1], parts[2]
    key = session.get(ApiKey, (site_id, key_id))
    now = now or utcnow()
    if key is None or not key.is_active(now) or not _secret_matches(secret, key.secret_hash):
        raise Unauthorized("unknown or revoked API key", field="authorization")
    site = session.get(Site, site_id)
    if site is None:  # pragma: no cover - the foreign key makes this impossible
        raise Unauthorized("unknown or revoked API key", field="authorization")
    return key, site


def key_use_due(key: ApiKey, now: dt.datetime) -> bool:
    """Whether a use of ``key`` at ``now`` should be written: at most once per
    :data:`LAST_USED_RESOLUTION`, so an API client's every request is not a write."""
    return key.last_used_at is None or key.last_used_at <= now - LAST_USED_RESOLUTION


def record_key_use(session: Session, site_id: int, key_id: str, now: dt.datetime) -> bool:
    """Set the key's ``last_used_at`` to ``now`` unless another request (of any process) did
    within :data:`LAST_USED_RESOLUTION`; ``True`` when this call wrote it."""
    written = session.execute(
        update(ApiKey)
        .where(
            ApiKey.site_id == site_id,
            ApiKey.id == key_id,
            or_(ApiKey.last_used_at.is_(None),
                ApiKey.last_used_at <= now - LAST_USED_RESOLUTION),
        )
        .values(last_used_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(written.rowcount)  # type: ignore[attr-defined]
