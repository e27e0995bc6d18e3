"""The NIST SP 800-63B password rule: length, the shipped common-password list, the email."""

from __future__ import annotations

import pytest

from tracker.accounts.passwords import MIN_PASSWORD_LENGTH, check_new_password, common_passwords
from tracker.errors import ValidationError


def test_the_shipped_list_is_the_common_password_list() -> None:
    listed = common_passwords()

    assert len(listed) > 19_000
    assert {"123456", "password", "qwerty", "1qaz2wsx3edc"} <= listed


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("a" * (MIN_PASSWORD_LENGTH - 1), "12 to 200"),
        ("x" * 201, "12 to 200"),
        ("1qaz2wsx3edc", "too common"),
        ("Q1W2E3R4T5Y6", "too common"),
        ("ada.lovelace@example.com", "your email"),
        ("ada.lovelace", "your email"),
    ],
)
def test_refused_passwords_name_the_field_and_the_reason(password: str, reason: str) -> None:
    with pytest.raises(ValidationError) as refused:
        check_new_password(password, "ada.lovelace@example.com")

    assert refused.value.field == "password"
    assert reason in refused.value.message


@pytest.mark.parametrize("password", ["a long passphrase", "Tr0ub4dor&3-horse", "é" * 12])
def test_long_uncommon_passwords_of_any_characters_pass(password: str) -> None:
    assert check_new_password(password, "ada@example.com") == password
