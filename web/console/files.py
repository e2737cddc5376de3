"""What the browser gets for a path of the console or the API's documentation: the file,
its content type and cache headers, and a Content-Security-Policy that lets the pages
load nothing but this API's own files and call nothing but this API.

Paths are the API's resource paths (the stage is not in them), so every link between the
files is relative: /console/ loads `app.js`, /docs loads `docs/...`, and either calls the
API one level up. That works on API Gateway's own domain (/dev/console/) as on a custom
domain or the local stack."""

import hashlib
import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import swagger_ui_bundle  # type: ignore[import-untyped]  # no type information shipped

PACKAGE_DIR = Path(__file__).resolve().parent
CONSOLE_DIR = PACKAGE_DIR / "static"
# A link to docs/openapi.json (python -m ops openapi writes it): sam build copies what it
# points to into the package.
API_DOCUMENT = PACKAGE_DIR / "openapi.json"
SWAGGER_UI_DIR = Path(str(swagger_ui_bundle.swagger_ui_path))
# The version is in Swagger UI's URLs, so its files may be kept for good: a new version
# has new URLs.
SWAGGER_UI_VERSION = SWAGGER_UI_DIR.name.removeprefix("swagger-ui-")
SWAGGER_UI_PATH = f"/docs/swagger-ui/{SWAGGER_UI_VERSION}/"
SWAGGER_UI_FILES = ("swagger-ui.css", "swagger-ui-bundle.js")

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".xml": "application/xml",  # the ServiceNow update set, to download
}
# Only this origin: no CDN, no inline script or style, no framing, no form posted
# elsewhere. Swagger UI's images are data: URLs.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; manifest-src 'self'; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
# Revalidated at every use (cheap with the ETag): a deploy shows at the next load.
REVALIDATE = "no-cache"
KEEP = "public, max-age=31536000, immutable"

DOCS_PAGE = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Twittnow API</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="docs/swagger-ui/{SWAGGER_UI_VERSION}/swagger-ui.css">
</head>
<body>
<main id="swagger-ui" data-document="openapi.json"></main>
<script src="docs/swagger-ui/{SWAGGER_UI_VERSION}/swagger-ui-bundle.js"></script>
<script src="docs/docs.js"></script>
</body>
</html>
"""


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""


@dataclass(frozen=True)
class _File:
    content: str
    content_type: str
    cache_control: str

    @property
    def etag(self) -> str:
        return '"' + hashlib.sha256(self.content.encode()).hexdigest()[:32] + '"'


def answer(path: str, if_none_match: str | None, request_id: str) -> Answer:
    """The answer to GET `path` (a resource path: /console/app.js, /docs, /openapi.json)."""
    # Relative links need the folder's trailing slash, and /docs none.
    if path == "/console":
        return _redirect("console/")
    if path == "/docs/":
        return _redirect("../docs")
    found = _file(path)
    if found is None:
        return _not_found(path, request_id)
    headers = {
        **SECURITY_HEADERS,
        "Content-Type": found.content_type,
        "Cache-Control": found.cache_control,
        "ETag": found.etag,
    }
    if if_none_match is not None and found.etag in _etags(if_none_match):
        return Answer(304, headers)
    return Answer(200, headers, found.content)


@cache
def _file(path: str) -> _File | None:
    """The file at `path`, read once per instance; None for a path that names none."""
    if path == "/console/":
        return _read(CONSOLE_DIR / "index.html", REVALIDATE)
    if path == "/docs":
        return _File(DOCS_PAGE, CONTENT_TYPES[".html"], REVALIDATE)
    if path == "/docs/docs.js":
        return _read(CONSOLE_DIR / "docs.js", REVALIDATE)
    if path == "/openapi.json":
        return _read(API_DOCUMENT, REVALIDATE)
    if path.startswith(SWAGGER_UI_PATH) and path.removeprefix(SWAGGER_UI_PATH) in SWAGGER_UI_FILES:
        return _read(SWAGGER_UI_DIR / path.removeprefix(SWAGGER_UI_PATH), KEEP)
    name = path.removeprefix("/console/")
    if path.startswith("/console/") and name in console_files():
        return _read(CONSOLE_DIR / name, REVALIDATE)
    return None


@cache
def console_files() -> frozenset[str]:
    """The console's files by their path under /console/: only these are served, so no
    path (`..`, a link) reaches any other file."""
    return frozenset(
        path.relative_to(CONSOLE_DIR).as_posix()
        for path in CONSOLE_DIR.rglob("*")
        if path.is_file() and path.suffix in CONTENT_TYPES
    )


def _read(path: Path, cache_control: str) -> _File:
    return _File(path.read_text(encoding="utf-8"), CONTENT_TYPES[path.suffix], cache_control)


def _etags(if_none_match: str) -> set[str]:
    return {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}


def _redirect(location: str) -> Answer:
    # Relative, so that it keeps the stage (/dev/console -> /dev/console/).
    return Answer(301, {**SECURITY_HEADERS, "Location": location, "Cache-Control": REVALIDATE})


def _not_found(path: str, request_id: str) -> Answer:
    envelope = {
        "error": f"No endpoint answers GET {path}.",
        "code": "NOT_FOUND",
        "details": {},
        "request_id": request_id,
    }
    return Answer(
        404, {**SECURITY_HEADERS, "Content-Type": "application/json"}, json.dumps(envelope)
    )
