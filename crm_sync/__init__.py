"""CRM formats: webhook signature checks and parsing of HubSpot, Pipedrive, Salesforce and our
generic signed JSON into plain :class:`~crm_sync.events.DealEvent` values.

It imports only the standard library, ``requests`` and itself, never Flask, SQLAlchemy,
Alembic, Werkzeug or ``tracker``: tracker calls it, and hands it a store satisfying
:class:`crm_sync.ports.DealStore` when it needs to write.
"""
