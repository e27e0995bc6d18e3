"""One module per ad platform's reporting API; each builds a :class:`SpendSource`."""
