"""Conversions pushed out to ad platforms: destinations, their outbox, formats and senders."""
