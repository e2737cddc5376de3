"""The X connection, the webhook and the inbound processor: one module per endpoint, the domain modules, models."""
