"""The local stack serves the OpenAPI document and a Swagger UI page for it."""

import pytest
import requests

from ops.openapi import DOCUMENT

pytestmark = pytest.mark.e2e


def test_the_stack_serves_the_openapi_document(local_stack):
    response = requests.get(f"{local_stack.base_url}/openapi.json", timeout=10)

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.content == DOCUMENT.read_bytes()


def test_the_docs_page_shows_the_document_with_swagger_ui(local_stack):
    response = requests.get(f"{local_stack.base_url}/docs", timeout=10)

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    assert 'url: "/openapi.json"' in response.text
    assert "SwaggerUIBundle" in response.text


def test_the_banner_shows_where_the_docs_are(local_stack):
    assert f"{local_stack.base_url}/docs" in local_stack.banner()


def test_the_docs_are_only_read(local_stack):
    response = requests.post(f"{local_stack.base_url}/openapi.json", timeout=10)

    assert response.status_code == 404
    assert response.json()["code"] == "NOT_FOUND"
