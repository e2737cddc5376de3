"""docs/openapi.json is what the code makes today."""

from ops import openapi


def test_the_checked_in_openapi_document_is_current():
    current = openapi.render(openapi.document())

    assert openapi.DOCUMENT.read_text(encoding="utf-8") == current, (
        "docs/openapi.json is stale: run python -m ops openapi and commit it"
    )


def test_every_template_route_is_documented_at_the_seeds_path():
    paths = openapi.document()["paths"]

    assert {"/auth/login/", "/auth/users/{user_id}/set-password/", "/api-key/"} <= set(paths)
    assert {"/events/", "/api/events/", "/activity/", "/api/activity/"} <= set(paths)
    assert {"/get-auth-url", "/twitter-activity", "/twitter-callback"} <= set(paths)
    assert paths["/auth/users/"]["post"]["security"] == [{"TokenAuth": []}]
    assert "security" not in paths["/auth/login/"]["post"]
    assert paths["/twitter-activity"]["post"]["security"] == [{"XWebhookSignature": []}]
