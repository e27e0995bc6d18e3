"""Leads: the secret-key API over people, their journeys, stages and erasure."""
