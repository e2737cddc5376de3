"""twittnow.rest: the functions' routes match, bind and validate as Powertools' REST
resolver did, and answer as it did (the API tests run every endpoint through it)."""

import base64
import json
from typing import Annotated

import pytest
from pydantic import BaseModel, ConfigDict

from twittnow.rest import (
    NoRoute,
    ProxyEvent,
    Query,
    RequestValidationError,
    Response,
    RestResolver,
    UnsupportedContentType,
)


class Note(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str


def event(method: str, path: str, **fields) -> ProxyEvent:
    return ProxyEvent({"httpMethod": method, "path": path, **fields})


@pytest.fixture
def app() -> RestResolver:
    app = RestResolver()

    @app.get("/notes/<note_id>")
    def get_note(note_id: str, page: Annotated[int, Query(ge=1)] = 1) -> Note:
        return Note(text=f"{note_id} on page {page}")

    @app.post("/notes")
    def create_note(note: Note) -> tuple[Note, int]:
        return note, 201

    @app.delete("/notes/<note_id>")
    def delete_note(note_id: str):
        return Response(204)

    return app


def errors_of(app: RestResolver, request: ProxyEvent) -> list[dict]:
    with pytest.raises(RequestValidationError) as raised:
        app.resolve(request)
    return [{"loc": error["loc"], "type": error["type"]} for error in raised.value.errors]


@pytest.mark.parametrize("path", ["/notes/n-1", "/notes/n-1/", "/notes/n-1//"])
def test_a_path_matches_with_or_without_its_trailing_slash(app, path):
    response = app.resolve(event("GET", path))
    assert (response.status_code, response.content_type) == (200, "application/json")
    assert json.loads(response.body) == {"text": "n-1 on page 1"}


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/notes"), ("PUT", "/notes/n-1"), ("GET", "/notes/n-1/more"), ("GET", "/other")],
)
def test_no_route_answers_another_method_or_path(app, method, path):
    with pytest.raises(NoRoute):
        app.resolve(event(method, path))


def test_query_parameters_are_validated_and_located(app):
    response = app.resolve(event("GET", "/notes/n-1", queryStringParameters={"page": "3"}))
    assert json.loads(response.body) == {"text": "n-1 on page 3"}
    bad = event("GET", "/notes/n-1", queryStringParameters={"page": "0"})
    assert errors_of(app, bad) == [{"loc": ("query", "page"), "type": "greater_than_equal"}]


def test_a_parameter_given_twice_is_refused(app):
    twice = event(
        "GET",
        "/notes/n-1",
        queryStringParameters={"page": "2"},
        multiValueQueryStringParameters={"page": ["1", "2"]},
    )
    assert errors_of(app, twice) == [{"loc": ("query", "page"), "type": "int_type"}]


def test_a_json_body_is_validated_and_the_status_returned_with_it_answered(app):
    response = app.resolve(event("POST", "/notes", body='{"text": "caf\\u00e9"}'))
    assert response.status_code == 201
    assert response.body == '{"text":"caf\\u00e9"}'  # ASCII, as Powertools wrote it


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (None, [{"loc": ("body",), "type": "missing"}]),
        ("", [{"loc": ("body",), "type": "missing"}]),
        ("{not json", [{"loc": ("body", 1), "type": "json_invalid"}]),
        ('{"text": 7}', [{"loc": ("body", "text"), "type": "string_type"}]),
        ('{"text": "a", "x": 1}', [{"loc": ("body", "x"), "type": "extra_forbidden"}]),
    ],
)
def test_a_bad_body_is_located_in_the_body(app, body, expected):
    assert errors_of(app, event("POST", "/notes", body=body)) == expected


def test_a_form_body_and_a_base64_body_are_read(app):
    form = event(
        "POST",
        "/notes",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        body="text=hello+there",
    )
    assert json.loads(app.resolve(form).body) == {"text": "hello there"}
    encoded = base64.b64encode(b'{"text": "hi"}').decode()
    assert app.resolve(event("POST", "/notes", body=encoded, isBase64Encoded=True)).body == (
        '{"text":"hi"}'
    )


def test_a_body_of_another_type_is_refused(app):
    with pytest.raises(UnsupportedContentType):
        app.resolve(event("POST", "/notes", headers={"content-type": "text/plain"}, body="hi"))


def test_a_response_the_route_makes_is_answered_as_it_is(app):
    response = app.resolve(event("DELETE", "/notes/n-1/"))
    assert (response.status_code, response.body) == (204, None)


def test_header_names_are_case_insensitive():
    request = event("GET", "/", headers={"Content-Type": "application/json", "X-Mixed": "1"})
    assert request.headers.get("content-type") == request.headers["CONTENT-TYPE"]
    assert "x-mixed" in request.headers and request.headers.get("absent") is None


def test_a_route_whose_parameter_is_neither_path_query_nor_body_is_refused():
    app = RestResolver()

    @app.get("/things")
    def list_things(page: int):
        return Response(200)

    with pytest.raises(TypeError, match="page is no path, query or body"):
        app.resolve(event("GET", "/things"))
