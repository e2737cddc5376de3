"""The console (a tenant's and an admin's web page at /console/) and the API's
documentation (Swagger UI at /docs, the OpenAPI document at /openapi.json): static files
this package carries, served by one function. The pages call only the public API."""

# First: in Lambda, no garbage collection during init (see twittnow's docstring).
import twittnow  # noqa: F401
