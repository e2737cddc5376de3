"""Users, logins, API keys and the audit log: one module per endpoint, logic (the domain), models."""
