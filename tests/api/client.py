"""The API tests' client and assertions: one ApiClient for both transports (in-process
through the local API Gateway, and HTTP), and the error envelope's checks."""

import json as jsonlib
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.structures import CaseInsensitiveDict

from local.gateway import HttpRequest


@dataclass
class Reply:
    status: int
    headers: CaseInsensitiveDict
    text: str

    @property
    def body(self) -> Any:
        return jsonlib.loads(self.text) if self.text else None


class ApiClient:
    def __init__(self, stack, over_http: bool):
        self.stack = stack
        self.over_http = over_http
        self.admin_token = ""

    def request(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        json: Any = None,
        data: str | None = None,
        headers: dict | None = None,
    ) -> Reply:
        target = _target(path)
        sent_headers = {"Content-Type": "application/json", **(headers or {})}
        if token:
            sent_headers["Authorization"] = f"Token {token}"
        body = (
            data.encode()
            if data is not None
            else b""
            if json is None
            else jsonlib.dumps(json).encode()
        )
        if self.over_http:
            # A redirect is an answer to check, as in process: not followed.
            answer = requests.request(
                method,
                self.stack.base_url + target,
                headers=sent_headers,
                data=body,
                timeout=30,
                allow_redirects=False,
            )
            return Reply(answer.status_code, answer.headers, answer.text)
        response = self.stack.handle(
            HttpRequest(
                method=method,
                target=target,
                headers=list(sent_headers.items()),
                body=body,
                client_ip="127.0.0.1",
            )
        )
        return Reply(response.status, CaseInsensitiveDict(response.headers), response.body.decode())

    def get(self, path, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path, **kwargs):
        return self.request("POST", path, **kwargs)

    def patch(self, path, **kwargs):
        return self.request("PATCH", path, **kwargs)

    def put(self, path, **kwargs):
        return self.request("PUT", path, **kwargs)

    def delete(self, path, **kwargs):
        return self.request("DELETE", path, **kwargs)

    def login(self, username: str, password: str) -> str:
        reply = self.post("/auth/login/", json={"username": username, "password": password})
        assert reply.status == 200, reply.body
        return reply.body["token"]

    def users_as_admin(self) -> list[dict]:
        """Every user as the admin sees them: what "nothing changed" is checked against."""
        return all_pages(self, "/auth/users/?page_size=200", self.admin_token)


def _target(path: str) -> str:
    """A path, or an absolute URL (a pagination link), as the request target."""
    if path.startswith("http"):
        parts = urlsplit(path)
        return parts.path + (f"?{parts.query}" if parts.query else "")
    return path


@dataclass
class Tenant:
    id: str
    username: str
    password: str
    token: str


def assert_envelope(reply, status, code, *fields):
    """`reply` is an error in the one envelope, with `status`, `code`, and a message for
    each of `fields` in details (a 400 also names them in its sentence)."""
    assert reply.status == status, reply.body
    assert set(reply.body) == {"error", "code", "details", "request_id"}, reply.body
    assert reply.body["code"] == code, reply.body
    assert reply.body["error"].strip()
    assert reply.body["request_id"]
    for field in fields:
        assert field in reply.body["details"], reply.body
        assert reply.body["details"][field] and all(
            isinstance(m, str) and m for m in reply.body["details"][field]
        )
        if status == 400:
            assert field in reply.body["error"], reply.body


def all_pages(api: ApiClient, path: str, token: str) -> list[dict]:
    """Every result of a paginated list, following its `next` links."""
    results, url = [], path
    while url:
        reply = api.get(url, token=token)
        assert reply.status == 200, reply.body
        assert set(reply.body) == {"count", "next", "previous", "results"}
        results += reply.body["results"]
        url = reply.body["next"]
    return results
