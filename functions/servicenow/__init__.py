"""A tenant's ServiceNow details and custom fields: one module per endpoint, the domain modules, models."""
