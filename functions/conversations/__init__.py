"""A tenant's conversations and their messages: the endpoints, the domain module, models."""
