"""ServiceNow's case events and the replies they send to X: the endpoint, the sender, the domain modules, models."""
