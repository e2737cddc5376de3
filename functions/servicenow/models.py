"""Request and response shapes of the ServiceNow details and custom fields APIs."""

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, ConfigDict, Field, SecretStr, StringConstraints

from twittnow import x_text
from twittnow.api import Body
from twittnow.models import CustomField, ServiceNowDetails


def _shows_on_x(question: str) -> str:
    # The bot asks it on X, which gets it without its control characters.
    if not x_text.clean(question).strip():
        raise ValueError("This field may not be blank.")
    return question


UserId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
InstanceUrl = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
AdminUser = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
# SecretStr keeps the password out of every repr, and so out of debug logs.
AdminPassword = Annotated[SecretStr, Field(min_length=1, max_length=1024)]
FieldName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Question = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=1000),
    AfterValidator(_shows_on_x),
]


class _Request(Body):
    model_config = ConfigDict(extra="forbid")


class ServiceNowDetailsRequest(_Request):
    """POST and PUT: every detail. `user` (admins only) names the record's owner."""

    instance_url: InstanceUrl
    admin_user: AdminUser
    admin_password: AdminPassword
    user: UserId | None = None


class ServiceNowDetailsChanges(_Request):
    """PATCH: any of the details, none of them null (the default only marks "not sent")."""

    # pydantic does not validate defaults: None marks a field not sent, and a null sent is
    # still refused, which typing the fields `| None` would allow (hence the ignores).
    instance_url: InstanceUrl = None  # type: ignore[assignment]
    admin_user: AdminUser = None  # type: ignore[assignment]
    admin_password: AdminPassword = None  # type: ignore[assignment]
    user: UserId = None  # type: ignore[assignment]


class ServiceNowDetailsView(Body):
    """A record as the API shows it: never the password."""

    id: str
    user: str
    instance_url: str
    admin_user: str
    status: str
    status_detail: str
    status_checked_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, details: ServiceNowDetails) -> "ServiceNowDetailsView":
        values = details.model_dump(exclude={"secret_arn", "user_id"})
        return cls(user=details.user_id, **values)


class VerificationView(Body):
    status: str
    detail: str
    checked_at: datetime


class CustomFieldRequest(_Request):
    field_name: FieldName
    message: Question
    user: UserId | None = None


class CustomFieldChanges(_Request):
    # As in ServiceNowDetailsChanges: None marks a field not sent; a null sent is refused.
    field_name: FieldName = None  # type: ignore[assignment]
    message: Question = None  # type: ignore[assignment]


class CustomFieldView(Body):
    id: str
    user: str
    field_name: str
    message: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, field: CustomField) -> "CustomFieldView":
        return cls(user=field.user_id, **field.model_dump(exclude={"user_id"}))
