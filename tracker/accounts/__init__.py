"""Dashboard users, API authentication, sign-in with its session cookie and CSRF token."""
