"""The demo site served at /demo/ and the demo data that fills it."""
