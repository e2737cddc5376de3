"""The local stack serves the OpenAPI document and a Swagger UI page for it, from the
console function (web/console), as a deployed stack does."""

import re

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
    assert 'data-document="openapi.json"' in response.text
    # Swagger UI's files come from the stack itself, not a CDN.
    for path in re.findall(r'(?:src|href)="(docs/[^"]+)"', response.text):
        asset = requests.get(f"{local_stack.base_url}/{path}", timeout=10)
        assert asset.status_code == 200, path


def test_the_banner_shows_where_the_docs_are(local_stack):
    assert f"{local_stack.base_url}/docs" in local_stack.banner()


def test_the_banner_shows_where_the_console_is(local_stack):
    assert f"Console        {local_stack.base_url}/console/" in local_stack.banner()


def test_the_docs_are_only_read(local_stack):
    response = requests.post(f"{local_stack.base_url}/openapi.json", timeout=10)

    assert response.status_code == 404
    assert response.json()["code"] == "NOT_FOUND"
