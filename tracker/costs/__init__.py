"""Spend: the CSV and API import, and the ad-platform connectors that pull it (adspend/)."""
