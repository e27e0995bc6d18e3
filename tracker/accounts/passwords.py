"""The password rule for dashboard users (NIST SP 800-63B §3.1.1.2): at least 12
characters, at most 200, any characters, no composition rules, and not one of the 20,000 most
common passwords (a list shipped in ``tracker/accounts/data``, see its LICENSE) nor the user's own
email. Ground floor: imports only ``tracker.errors``.
"""

from __future__ import annotations

import gzip
from functools import lru_cache
from pathlib import Path

from tracker.errors import ValidationError

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 200
COMMON_PASSWORDS = Path(__file__).parent / "data" / "common-passwords.txt.gz"


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """The shipped list, lower-cased (about 20,000 entries, loaded once)."""
    with gzip.open(COMMON_PASSWORDS, "rt", encoding="utf-8") as lines:
        return frozenset(line.strip() for line in lines if line.strip())


def check_new_password(raw: object, email: str | None = None, field: str = "password") -> str:
    """``raw`` when it may become a password; :class:`ValidationError` naming ``field``."""
    if not isinstance(raw, str) or not MIN_PASSWORD_LENGTH <= len(raw) <= MAX_PASSWORD_LENGTH:
        raise ValidationError(
            f"expected a password of {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters",
            field=field,
        )
    folded = raw.strip().lower()
    if folded in common_passwords() or folded.replace(" ", "") in common_passwords():
        raise ValidationError("this password is too common; choose another", field=field)
    if email and folded in {email.lower(), email.lower().partition("@")[0]}:
        raise ValidationError("the password must not be your email", field=field)
    return raw
