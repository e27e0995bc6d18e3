"""Every mapped model, imported here so Alembic and the services see one metadata."""

from tracker.models.adspend import AdAccount
from tracker.models.attribution import AttributionCredit, AttributionFit, LeadCreditDigest
from tracker.models.base import Base
from tracker.models.bot import BotHit
from tracker.models.call import Call, CallAssignment, CallNumber, CallPool, CallSettings
from tracker.models.cost import Cost, ExchangeRate
from tracker.models.crm import CrmCheckpoint, CrmContact, CrmOutbox
from tracker.models.deal import CrmEvent, Deal
from tracker.models.destination import ConversionOutbox, Destination
from tracker.models.event import Event
from tracker.models.lead import Lead, LeadVisitor, OfflineTouch, ScoreChange, StageChange
from tracker.models.queue import RefreshItem
from tracker.models.rollup import CreditRollup, CreditRollupTimes, RollupState, TrafficRollup
from tracker.models.segment import SegmentUser
from tracker.models.session import VisitSession
from tracker.models.site import ApiKey, Site
from tracker.models.user import User, UserSite
from tracker.models.visitor import Visitor

__all__ = [
    "AdAccount",
    "ApiKey",
    "AttributionCredit",
    "AttributionFit",
    "Base",
    "BotHit",
    "Call",
    "CallAssignment",
    "CallNumber",
    "CallPool",
    "CallSettings",
    "ConversionOutbox",
    "Cost",
    "CreditRollup",
    "CreditRollupTimes",
    "CrmCheckpoint",
    "CrmContact",
    "CrmEvent",
    "CrmOutbox",
    "Deal",
    "Destination",
    "Event",
    "ExchangeRate",
    "Lead",
    "LeadCreditDigest",
    "LeadVisitor",
    "OfflineTouch",
    "RefreshItem",
    "RollupState",
    "ScoreChange",
    "SegmentUser",
    "Site",
    "StageChange",
    "TrafficRollup",
    "User",
    "UserSite",
    "VisitSession",
    "Visitor",
]
