"""The error envelope's messages, and DRF-style pagination."""

import pytest
from pydantic import BaseModel, ConfigDict, EmailStr, ValidationError

from twittnow import instance
from twittnow.api import describe_validation_errors, paginate
from twittnow.errors import NotFound


class Signup(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: EmailStr
    age: int


def errors_of(payload: dict) -> list[dict]:
    with pytest.raises(ValidationError) as caught:
        Signup.model_validate(payload)
    # Powertools reports body errors with a leading "body" location.
    return [{**error, "loc": ("body", *error["loc"])} for error in caught.value.errors()]


def test_field_errors_are_named_and_readable():
    message, details = describe_validation_errors(errors_of({"username": "nope", "extra": 1}))

    assert details["age"] == ["This field is required."]
    assert details["extra"] == ["Unknown field; remove it."]
    assert details["username"][0].startswith("Value is not a valid email address")
    assert message.startswith("Invalid input. ")
    assert "age: This field is required." in message


def test_malformed_json_and_missing_body_are_explained():
    _, details = describe_validation_errors(
        [
            {
                "type": "json_invalid",
                "loc": ("body", 1),
                "msg": "JSON decode error",
                "ctx": {"error": "Expecting value"},
            }
        ]
    )
    assert details == {"body": ["The request body is not valid JSON (Expecting value)."]}

    _, details = describe_validation_errors(
        [{"type": "missing", "loc": ("body",), "msg": "Field required"}]
    )
    assert details == {"body": ["The request body must be a JSON object."]}


class FakeContext:
    domain_name = "abc.execute-api.us-east-1.amazonaws.com"
    path = "/dev/auth/users/"


class FakeEvent:
    path = "/auth/users/"
    request_context = FakeContext()

    def __init__(self, query=None):
        self.query_string_parameters = query


@pytest.fixture
def public_base_url(monkeypatch):
    """Sets PUBLIC_BASE_URL (and the tables settings require) for one test."""
    from twittnow.settings import Settings, get_settings

    def set_to(url: str) -> None:
        for name, field in Settings.model_fields.items():
            if field.is_required():
                monkeypatch.setenv(name.upper(), "unused")
        monkeypatch.setenv("PUBLIC_BASE_URL", url)
        instance.forget(get_settings)

    yield set_to
    instance.forget(get_settings)


def test_pagination_links_keep_the_query_and_the_stage(public_base_url):
    public_base_url("")
    page = paginate(
        list(range(5)), FakeEvent({"search": "stark", "page": "2", "page_size": "2"}), 2, 2
    )

    assert page.count == 5
    assert page.results == [2, 3]
    assert page.next == (
        "https://abc.execute-api.us-east-1.amazonaws.com/dev/auth/users/?search=stark&page=3&page_size=2"
    )
    assert page.previous.endswith("page=1&page_size=2")


def test_pagination_uses_the_public_base_url_when_set(public_base_url):
    public_base_url("https://twittnow.example.com/")
    page = paginate(list(range(3)), FakeEvent(), 1, 2)
    assert page.next == "https://twittnow.example.com/auth/users/?page=2"
    assert page.previous is None


def test_an_empty_list_is_one_empty_page_and_past_the_end_is_not_found(public_base_url):
    public_base_url("")
    page = paginate([], FakeEvent(), 1, 50)
    assert (page.count, page.results, page.next, page.previous) == (0, [], None, None)

    with pytest.raises(NotFound, match="Invalid page 3"):
        paginate([1, 2], FakeEvent(), 3, 1)


def test_length_limits_are_phrased_in_characters_for_strings_and_secrets():
    _, details = describe_validation_errors(
        [
            {
                "type": "too_short",
                "loc": ("body", "password"),
                "msg": "Value should have at least 8 items",
                "ctx": {"min_length": 8},
            },
            {
                "type": "string_too_short",
                "loc": ("body", "username"),
                "msg": "String should have at least 1 character",
                "ctx": {"min_length": 1},
            },
            {
                "type": "string_too_long",
                "loc": ("body", "first_name"),
                "msg": "String should have at most 150 characters",
                "ctx": {"max_length": 150},
            },
        ]
    )
    assert details == {
        "password": ["Must be at least 8 characters long."],
        "username": ["This field may not be blank."],
        "first_name": ["Must be at most 150 characters long."],
    }
