"""CRM sync beyond webhooks: pulling changed deals from each CRM's API into the inbox
(``pull``), and pushing leads onto CRM contacts through a durable outbox (``outbox``,
``push``). The formats and HTTP calls live in ``crm_sync``; this package owns the tables."""
