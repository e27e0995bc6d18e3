"""Phone numbers in E.164 and as people read them, through Google's libphonenumber rules
(the ``phonenumbers`` package) rather than our own guesses about national formats."""

from __future__ import annotations

import phonenumbers

from tracker.errors import ValidationError

DEFAULT_REGION = "US"


def to_e164(raw: object, field: str, region: str = DEFAULT_REGION) -> str:
    """``+14155550100`` from any written form; a number without ``+`` is read in ``region``.
    :class:`ValidationError` naming ``field`` when it is not a possible phone number."""
    if not isinstance(raw, str) or not 3 <= len(raw) <= 40:
        raise ValidationError("expected a phone number", field=field)
    try:
        parsed = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        raise ValidationError("not a phone number", field=field) from None
    if not phonenumbers.is_possible_number(parsed):
        raise ValidationError("not a possible phone number", field=field)
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def display_form(e164: str, region: str = DEFAULT_REGION) -> str:
    """How a page shows the number: national format in its own region, international else."""
    parsed = phonenumbers.parse(e164, region)
    same_region = phonenumbers.region_code_for_number(parsed) == region
    style = (phonenumbers.PhoneNumberFormat.NATIONAL if same_region
             else phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    return phonenumbers.format_number(parsed, style)
