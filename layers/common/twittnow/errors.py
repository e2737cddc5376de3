"""Errors the API answers with. Each carries its status and machine-readable code; the
envelope they are rendered into lives in twittnow.api."""


class ApiError(Exception):
    status = 500
    code = "INTERNAL_ERROR"

    def __init__(self, message: str, details: dict[str, list[str]] | None = None):
        super().__init__(message)
        self.message = message
        self.details = details or {}


class InvalidInput(ApiError):
    status = 400
    code = "VALIDATION_ERROR"

    @classmethod
    def for_field(cls, field: str, message: str) -> "InvalidInput":
        return cls(f"{field}: {message}", {field: [message]})


class NotAuthenticated(ApiError):
    status = 401
    code = "NOT_AUTHENTICATED"


class PermissionDenied(ApiError):
    status = 403
    code = "PERMISSION_DENIED"


class NotFound(ApiError):
    status = 404
    code = "NOT_FOUND"


class Conflict(ApiError):
    status = 409
    code = "CONFLICT"

    @classmethod
    def not_unique(cls, field: str, message: str) -> "Conflict":
        return cls(message, {field: ["This field must be unique."]})


class Throttled(ApiError):
    status = 429
    code = "RATE_LIMIT_EXCEEDED"

    def __init__(self, message: str, retry_after_seconds: int):
        super().__init__(message)
        self.retry_after_seconds = max(1, retry_after_seconds)


class UpstreamUnavailable(ApiError):
    """X or ServiceNow did not answer, or throttled us: nothing was changed; retry later."""

    status = 503
    code = "UPSTREAM_UNAVAILABLE"

    def __init__(self, message: str, retry_after_seconds: int = 30):
        super().__init__(message)
        self.retry_after_seconds = max(1, retry_after_seconds)
