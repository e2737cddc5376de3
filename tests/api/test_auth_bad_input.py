"""Bad input: a 4xx in the error envelope, a message a person can act on, nothing changed."""

import threading

import pytest

VALID = {"username": "new@example.com", "password": "Acme's own passphrase", "company_name": "Acme"}


def assert_envelope(reply, status, code, *fields):
    assert reply.status == status, reply.body
    assert set(reply.body) == {"error", "code", "details", "request_id"}
    assert reply.body["code"] == code
    assert reply.body["error"].strip()
    for field in fields:
        assert field in reply.body["details"], reply.body
        assert field in reply.body["error"]


@pytest.mark.parametrize(
    "body,fields",
    [
        ({k: v for k, v in VALID.items() if k != "username"}, ["username"]),
        ({k: v for k, v in VALID.items() if k != "password"}, ["password"]),
        ({**VALID, "username": "not-an-email"}, ["username"]),
        ({**VALID, "password": ""}, ["password"]),
        ({**VALID, "password": "short"}, ["password"]),
        ({**VALID, "username": 42}, ["username"]),
        ({**VALID, "is_admin": "yes"}, ["is_admin"]),
        ({**VALID, "company_name": "   "}, ["company_name"]),
        ({**VALID, "favourite_colour": "red"}, ["favourite_colour"]),
        ([VALID], ["body"]),
        ("just a string", ["body"]),
    ],
)
def test_create_user_rejects_bad_bodies(api, admin_token, body, fields):
    before = api.users_as_admin()
    assert_envelope(
        api.post("/auth/users/", token=admin_token, json=body), 400, "VALIDATION_ERROR", *fields
    )
    assert api.users_as_admin() == before


@pytest.mark.parametrize("data", ["{not json", "", '{"username": "a@example.com",}'])
def test_malformed_or_missing_json_is_a_400(api, admin_token, data):
    before = api.users_as_admin()
    assert_envelope(
        api.post("/auth/users/", token=admin_token, data=data), 400, "VALIDATION_ERROR", "body"
    )
    assert api.users_as_admin() == before


def test_usernames_are_unique_whatever_their_case(api, admin_token, tenant):
    reply = api.post(
        "/auth/users/", token=admin_token, json={**VALID, "username": tenant.username.upper()}
    )
    assert_envelope(reply, 409, "CONFLICT", "username")
    assert reply.body["details"]["username"] == ["This field must be unique."]


def fullwidth(text: str) -> str:
    return "".join(
        chr(ord(character) + 0xFEE0) if "!" <= character <= "~" else character for character in text
    )


def test_a_fullwidth_look_alike_of_a_username_is_the_same_username(api, admin_token, tenant):
    local_part, domain = tenant.username.split("@")
    for look_alike in (
        f"{fullwidth(local_part)}@{domain}",
        f"{fullwidth(local_part.upper())}@{domain}",
    ):
        reply = api.post("/auth/users/", token=admin_token, json={**VALID, "username": look_alike})
        assert_envelope(reply, 409, "CONFLICT", "username")
    assert_envelope(
        api.post(
            "/auth/users/", token=admin_token, json={**VALID, "username": "ａｄｍｉｎ@example.com"}
        ),
        409,
        "CONFLICT",
        "username",
    )  # the stack's admin


def test_usernames_are_stored_nfkc_and_compared_case_folded(api, admin_token, unique_email):
    local_part = unique_email("strasse").split("@")[0].replace("strasse", "straße")
    created = api.post(
        "/auth/users/",
        token=admin_token,
        json={**VALID, "username": f"{fullwidth(local_part)}@example.com"},
    )
    assert created.status == 201, created.body
    assert created.body["username"] == f"{local_part}@example.com"  # shown as it looks

    again = api.post(
        "/auth/users/",
        token=admin_token,
        json={**VALID, "username": f"{local_part.upper()}@example.com"},
    )
    assert_envelope(again, 409, "CONFLICT", "username")  # STRASSE: ß casefolds to ss
    assert api.login(f"{local_part.replace('ß', 'SS')}@example.com", VALID["password"])


def test_of_concurrent_creates_of_one_username_exactly_one_succeeds(api, admin_token, unique_email):
    username = unique_email("race")
    statuses = []

    def create(variant: str):
        statuses.append(
            api.post("/auth/users/", token=admin_token, json={**VALID, "username": variant}).status
        )

    threads = [
        threading.Thread(target=create, args=(name,)) for name in [username, username.upper()] * 3
    ]
    [thread.start() for thread in threads]
    [thread.join() for thread in threads]

    assert sorted(statuses) == [201, 409, 409, 409, 409, 409]


def test_renaming_onto_a_taken_username_changes_nothing(api, tenant, other_tenant):
    reply = api.patch(
        f"/auth/users/{tenant.id}/", token=tenant.token, json={"username": other_tenant.username}
    )
    assert_envelope(reply, 409, "CONFLICT", "username")
    assert (
        api.get(f"/auth/users/{tenant.id}/", token=tenant.token).body["username"] == tenant.username
    )
    assert api.login(other_tenant.username, other_tenant.password)


def test_a_renamed_user_logs_in_with_the_new_username_and_frees_the_old(
    api, admin_token, tenant, unique_email
):
    new_username = unique_email("renamed")
    assert (
        api.patch(
            f"/auth/users/{tenant.id}/", token=tenant.token, json={"username": new_username}
        ).status
        == 200
    )
    assert api.login(new_username, tenant.password)
    assert (
        api.post(
            "/auth/login/", json={"username": tenant.username, "password": tenant.password}
        ).status
        == 401
    )
    reuse = api.post("/auth/users/", token=admin_token, json={**VALID, "username": tenant.username})
    assert reuse.status == 201


@pytest.mark.parametrize(
    "method,suffix,body,field",
    [
        ("PATCH", "", {"username": "nope"}, "username"),
        ("PATCH", "", {"first_name": None}, "first_name"),
        ("PATCH", "", {"id": "another-id"}, "id"),
        ("PATCH", "", {"password": "sneaky password"}, "password"),
        ("PUT", "", {"first_name": "Only"}, "username"),
        ("PATCH", "set-password/", {"password": ""}, "password"),
        ("PATCH", "set-password/", {}, "password"),
    ],
)
def test_updates_reject_bad_bodies_and_change_nothing(api, tenant, method, suffix, body, field):
    path = f"/auth/users/{tenant.id}/"
    before = api.get(path, token=tenant.token).body
    assert_envelope(
        api.request(method, path + suffix, token=tenant.token, json=body),
        400,
        "VALIDATION_ERROR",
        field,
    )
    assert api.get(path, token=tenant.token).body == before
    assert api.login(tenant.username, tenant.password)


@pytest.mark.parametrize("method", ["GET", "PATCH", "PUT", "DELETE"])
def test_unknown_ids_are_404(api, admin_token, method):
    body = {"username": "u@example.com", "first_name": "U", "last_name": "U", "company_name": "U"}
    reply = api.request(
        method, "/auth/users/00000000-0000-4000-8000-000000000000/", token=admin_token, json=body
    )
    assert_envelope(reply, 404, "NOT_FOUND")


@pytest.mark.parametrize(
    "body,status,fields",
    [
        ({"username": "nobody@example.com", "password": "password"}, 401, []),
        ({"username": "", "password": "password"}, 400, ["username"]),
        ({"username": "nobody@example.com"}, 400, ["password"]),
        (
            {"username": "nobody@example.com", "password": "password", "remember": True},
            400,
            ["remember"],
        ),
    ],
)
def test_login_rejects_bad_credentials_and_bad_input(api, body, status, fields):
    reply = api.post("/auth/login/", json=body)
    assert_envelope(
        reply, status, "NOT_AUTHENTICATED" if status == 401 else "VALIDATION_ERROR", *fields
    )


def test_repeated_failed_logins_are_throttled_even_for_the_right_password(api, tenant):
    for _ in range(5):
        assert (
            api.post(
                "/auth/login/", json={"username": tenant.username, "password": "guess!guess"}
            ).status
            == 401
        )

    reply = api.post(
        "/auth/login/", json={"username": tenant.username.upper(), "password": tenant.password}
    )
    assert_envelope(reply, 429, "RATE_LIMIT_EXCEEDED")
    assert 800 < int(reply.headers["Retry-After"]) <= 901
    assert (
        api.get(f"/auth/users/{tenant.id}/", token=tenant.token).status == 200
    )  # sessions live on


@pytest.mark.parametrize(
    "query,field",
    [
        ("page=0", "page"),
        ("page=abc", "page"),
        ("page_size=1000", "page_size"),
        ("page_size=0", "page_size"),
    ],
)
def test_list_users_rejects_bad_pages(api, admin_token, query, field):
    assert_envelope(
        api.get(f"/auth/users/?{query}", token=admin_token), 400, "VALIDATION_ERROR", field
    )


def test_list_users_searches_and_paginates(api, admin_token, unique_email):
    marker = unique_email("pagination").split("@")[0]
    for index in range(3):
        api.post(
            "/auth/users/",
            token=admin_token,
            json={**VALID, "username": f"{marker}-{index}@example.com"},
        )

    first = api.get(f"/auth/users/?search={marker.upper()}&page_size=2", token=admin_token).body
    assert first["count"] == 3
    assert [user["username"] for user in first["results"]] == [
        f"{marker}-0@example.com",
        f"{marker}-1@example.com",
    ]
    assert first["previous"] is None

    second = api.get(first["next"], token=admin_token).body
    assert [user["username"] for user in second["results"]] == [f"{marker}-2@example.com"]
    assert second["next"] is None and second["previous"]

    past_the_end = api.get(f"/auth/users/?search={marker}&page=3&page_size=2", token=admin_token)
    assert_envelope(past_the_end, 404, "NOT_FOUND")

    by_company = api.get("/auth/users/?search=acme&page_size=200", token=admin_token).body
    assert by_company["count"] >= 3


def test_unknown_routes_are_404_in_the_envelope(api, admin_token):
    assert_envelope(api.get("/auth/nothing-here/", token=admin_token), 404, "NOT_FOUND")
