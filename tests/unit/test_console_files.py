"""What the console function answers for each path: the files of the console and of
Swagger UI with their content types, cache headers and Content-Security-Policy; redirects
that keep relative links working; nothing outside its files."""

import json
import re
from pathlib import Path

import pytest

from console import files, serve

REPO_ROOT = Path(__file__).resolve().parents[2]
EVENT = json.loads((REPO_ROOT / "events" / "ConsoleFunction.json").read_text())


def get(path: str, if_none_match: str | None = None) -> files.Answer:
    return files.answer(path, if_none_match, "request-1")


@pytest.mark.parametrize(
    "path, content_type",
    [
        ("/console/", "text/html; charset=utf-8"),
        ("/console/app.js", "text/javascript; charset=utf-8"),
        ("/console/style.css", "text/css; charset=utf-8"),
        ("/console/twittnow_update_set.xml", "application/xml"),
        ("/docs", "text/html; charset=utf-8"),
        ("/docs/docs.js", "text/javascript; charset=utf-8"),
        ("/openapi.json", "application/json"),
        (f"{files.SWAGGER_UI_PATH}swagger-ui-bundle.js", "text/javascript; charset=utf-8"),
        (f"{files.SWAGGER_UI_PATH}swagger-ui.css", "text/css; charset=utf-8"),
    ],
)
def test_each_file_has_its_content_type_and_the_security_headers(path, content_type):
    answer = get(path)

    assert answer.status == 200
    assert answer.headers["Content-Type"] == content_type
    assert answer.headers["Content-Security-Policy"] == files.CONTENT_SECURITY_POLICY
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert answer.headers["Referrer-Policy"] == "no-referrer"
    assert answer.body


def test_the_policy_lets_the_pages_reach_only_their_own_origin():
    directives = dict(
        directive.strip().split(" ", 1) for directive in files.CONTENT_SECURITY_POLICY.split(";")
    )

    assert directives["default-src"] == "'none'"
    for name in ("script-src", "style-src", "connect-src", "font-src"):
        assert directives[name] == "'self'", name  # no CDN, nothing inline
    assert directives["frame-ancestors"] == "'none'"


def test_the_documents_are_the_repositorys():
    assert get("/openapi.json").body == (REPO_ROOT / "docs" / "openapi.json").read_text()
    update_set = REPO_ROOT / "update_set" / "twittnow_update_set.xml"
    assert get("/console/twittnow_update_set.xml").body == update_set.read_text()


def test_swagger_ui_comes_from_the_pinned_package_and_is_kept_for_good():
    pinned = (REPO_ROOT / "web" / "requirements.txt").read_text()
    assert f"swagger-ui-bundle-v2=={files.SWAGGER_UI_VERSION}\n" in pinned
    page = get("/docs").body
    assert f'href="docs/swagger-ui/{files.SWAGGER_UI_VERSION}/swagger-ui.css"' in page
    assert "unpkg" not in page and "<script>" not in page  # nothing inline, nothing outside

    bundle = get(f"{files.SWAGGER_UI_PATH}swagger-ui-bundle.js")
    assert bundle.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    # The console's own files and the documents change with a deploy at the same URLs.
    for path in ("/console/", "/console/app.js", "/docs", "/openapi.json"):
        assert get(path).headers["Cache-Control"] == "no-cache", path


def test_a_file_the_browser_has_is_answered_304_by_its_etag():
    first = get("/console/app.js")
    etag = first.headers["ETag"]
    assert re.fullmatch(r'"[0-9a-f]{32}"', etag)

    again = get("/console/app.js", f'W/"stale", {etag}')

    assert (again.status, again.body) == (304, "")
    assert again.headers["ETag"] == etag
    assert get("/console/app.js", '"stale"').status == 200


def test_folders_without_their_slash_are_redirected_relatively():
    # Relative, so that the stage stays: /dev/console -> /dev/console/.
    assert (get("/console").status, get("/console").headers["Location"]) == (301, "console/")
    assert (get("/docs/").status, get("/docs/").headers["Location"]) == (301, "../docs")


@pytest.mark.parametrize(
    "path",
    [
        "/console/../template.yaml",
        "/console/..%2F..%2Ftemplate.yaml",
        "/console/static/app.js",
        "/console/files.py",
        "/console/nothing.js",
        "/docs/swagger-ui/0.0.1/swagger-ui-bundle.js",
        f"{files.SWAGGER_UI_PATH}swagger-ui-bundle.js.map",
        f"{files.SWAGGER_UI_PATH}index.html",
        "/docs/docs",
    ],
)
def test_nothing_but_the_pages_files_is_served(path):
    answer = get(path)

    assert answer.status == 404
    assert json.loads(answer.body) == {
        "error": f"No endpoint answers GET {path}.",
        "code": "NOT_FOUND",
        "details": {},
        "request_id": "request-1",
    }


def test_the_console_serves_only_its_static_files():
    assert files.console_files() >= {"index.html", "app.js", "api.js", "ui.js", "style.css"}
    assert all(not name.endswith(".py") for name in files.console_files())


def test_the_handler_answers_a_proxy_response():
    answer = serve.lambda_handler(
        {
            **EVENT,
            "headers": {
                **EVENT["headers"],
                "If-None-Match": get("/console/app.js").headers["ETag"],
            },
        },
        None,
    )

    assert answer["statusCode"] == 304
    assert answer["headers"]["Content-Type"] == "text/javascript; charset=utf-8"
    assert serve.lambda_handler(EVENT, None)["body"] == get("/console/app.js").body
