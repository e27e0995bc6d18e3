"""IP truncation and URL scrubbing happen before anything is stored."""

from __future__ import annotations

import pytest

from tracker.rules.privacy import REDACTED, scrub_url, truncate_ip


@pytest.mark.parametrize(
    ("address", "stored"),
    [
        ("203.0.113.77", "203.0.113.0"),
        ("10.1.2.3", "10.1.2.0"),
        ("2001:db8:abcd:12:1:2:3:4", "2001:db8:abcd::"),
        ("::ffff:198.51.100.9", "198.51.100.0"),
        ("not an ip", None),
        ("", None),
        (None, None),
    ],
)
def test_ips_are_truncated_to_24_and_48_bits(address: str | None, stored: str | None) -> None:
    assert truncate_ip(address) == stored


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "https://x.com/a?utm_source=n&utm_medium=email",
            "https://x.com/a?utm_source=n&utm_medium=email",
        ),
        (
            "https://x.com/a?email=a%40b.com&utm_source=n",
            f"https://x.com/a?email={REDACTED}&utm_source=n",
        ),
        ("https://x.com/a?ref=someone@example.org", f"https://x.com/a?ref={REDACTED}"),
        ("https://x.com/a?tel=%2B44+20+7946+0958", f"https://x.com/a?tel={REDACTED}"),
        ("https://x.com/a?contact=555-123-4567", f"https://x.com/a?contact={REDACTED}"),
        ("https://x.com/a?token=abc&page=2", f"https://x.com/a?token={REDACTED}&page=2"),
        ("https://x.com/a?gclid=Cj0KCQ123", "https://x.com/a?gclid=Cj0KCQ123"),
        ("https://x.com/cb#access_token=secret", "https://x.com/cb"),
        ("https://user:pw@x.com/a", "https://x.com/a"),
        ("https://x.com/plain", "https://x.com/plain"),
        (
            "https://x.com/t?full_name=Ada+L&card_number=4111&plan=pro",
            f"https://x.com/t?full_name={REDACTED}&card_number={REDACTED}&plan=pro",
        ),
        (
            "https://x.com/t?user-email=x&X-Auth-Token=y",
            f"https://x.com/t?user-email={REDACTED}&X-Auth-Token={REDACTED}",
        ),
    ],
)
def test_contact_details_and_tokens_are_stripped_from_urls(url: str, expected: str) -> None:
    assert scrub_url(url) == expected
