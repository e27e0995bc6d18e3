"""What LeadTrail writes back onto a CRM contact: the lead and where it came from.

tracker builds a :class:`LeadContact` from its tables; each provider module turns it into
its API's upsert (``hubspot.upsert_contact``, ``pipedrive.upsert_person``). Standard
library only.
"""

from __future__ import annotations

from dataclasses import dataclass

# Our field names, in the order CRMs show them. HubSpot's contact properties are these
# names prefixed with ``leadtrail_``; Pipedrive's custom fields are mapped per site.
PUSH_FIELDS: tuple[str, ...] = (
    "lead_id",
    "stage",
    "score",
    "first_channel",
    "first_source",
    "first_campaign",
    "first_keyword",
    "lead_channel",
    "landing_page",
)


@dataclass(frozen=True, slots=True)
class LeadContact:
    """One lead as a CRM contact: who it is (used only to find or create the contact) and
    the LeadTrail fields written onto it. ``first_*`` describe the lead's first touch,
    ``lead_channel`` the touch in which it became a lead, ``landing_page`` the first touch's
    landing URL."""

    lead_id: str
    email: str | None  # None: a caller known only by phone, found and created by ``phone``
    stage: str
    score: int
    name: str | None = None
    phone: str | None = None
    company: str | None = None
    first_channel: str | None = None
    first_source: str | None = None
    first_campaign: str | None = None
    first_keyword: str | None = None
    lead_channel: str | None = None
    landing_page: str | None = None

    def fields(self) -> dict[str, str]:
        """The LeadTrail fields as strings; an unknown value is ``""`` (which clears it)."""
        values: dict[str, str] = {}
        for name in PUSH_FIELDS:
            value = getattr(self, name)
            values[name] = "" if value is None else str(value)
        return values

    def first_and_last_name(self) -> tuple[str | None, str | None]:
        """``name`` split at its first space (CRMs that keep the two apart)."""
        if not self.name:
            return None, None
        first, _, last = self.name.strip().partition(" ")
        return first or None, last.strip() or None
