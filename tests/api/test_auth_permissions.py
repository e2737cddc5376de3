"""Who may do what: anonymous callers, tenants acting on others, admins."""

import pytest

PROTECTED = [
    ("POST", "/auth/users/"),
    ("GET", "/auth/users/"),
    ("GET", "/auth/users/{id}/"),
    ("PATCH", "/auth/users/{id}/"),
    ("PUT", "/auth/users/{id}/"),
    ("DELETE", "/auth/users/{id}/"),
    ("PATCH", "/auth/users/{id}/set-password/"),
    ("POST", "/auth/logout/"),
    ("POST", "/auth/logout-all/"),
]


@pytest.mark.parametrize("method,path", PROTECTED)
@pytest.mark.parametrize(
    "authorization", [None, "Token not-a-real-token", "Basic YWRtaW46cGFzcw=="]
)
def test_anonymous_and_bad_tokens_get_401_before_the_body_is_read(
    api, tenant, method, path, authorization
):
    headers = {"Authorization": authorization} if authorization else {}
    reply = api.request(method, path.format(id=tenant.id), headers=headers, data="{not json")

    assert reply.status == 401
    assert reply.body["code"] == "NOT_AUTHENTICATED"
    assert reply.headers["WWW-Authenticate"] == "Token"


def test_bearer_is_accepted_as_well_as_token(api, tenant):
    reply = api.get(
        f"/auth/users/{tenant.id}/", headers={"Authorization": f"Bearer {tenant.token}"}
    )
    assert reply.status == 200


@pytest.mark.parametrize(
    "method,path,body",
    [
        ("GET", "/auth/users/", None),
        (
            "POST",
            "/auth/users/",
            {"username": "x@example.com", "password": "password", "company_name": "X"},
        ),
        ("DELETE", "/auth/users/{other}/", None),
    ],
)
def test_admin_only_endpoints_refuse_tenants(api, tenant, other_tenant, method, path, body):
    before = api.users_as_admin()
    reply = api.request(method, path.format(other=other_tenant.id), token=tenant.token, json=body)

    assert reply.status == 403
    assert reply.body["code"] == "PERMISSION_DENIED"
    assert api.users_as_admin() == before


@pytest.mark.parametrize(
    "method,suffix,body",
    [
        ("GET", "", None),
        ("PATCH", "", {"last_name": "Hacked"}),
        (
            "PUT",
            "",
            {"username": "h@example.com", "first_name": "H", "last_name": "H", "company_name": "H"},
        ),
        ("PATCH", "set-password/", {"password": "taken over"}),
    ],
)
def test_a_tenant_cannot_see_or_change_another_tenant(
    api, tenant, other_tenant, method, suffix, body
):
    before = api.users_as_admin()
    reply = api.request(
        method, f"/auth/users/{other_tenant.id}/{suffix}", token=tenant.token, json=body
    )

    assert reply.status == 404  # as for an unknown id: ids reveal nothing
    assert reply.body["code"] == "NOT_FOUND"
    assert api.users_as_admin() == before
    assert api.login(other_tenant.username, other_tenant.password)


def test_a_tenant_cannot_make_itself_admin(api, tenant):
    for method, body in [
        ("PATCH", {"is_admin": True}),
        (
            "PUT",
            {
                "username": tenant.username,
                "first_name": "T",
                "last_name": "T",
                "company_name": "T",
                "is_admin": True,
            },
        ),
    ]:
        reply = api.request(method, f"/auth/users/{tenant.id}/", token=tenant.token, json=body)
        assert reply.status == 403, reply.body
        assert api.get(f"/auth/users/{tenant.id}/", token=tenant.token).body["is_admin"] is False


def test_an_admin_manages_any_user(api, admin_token, tenant):
    path = f"/auth/users/{tenant.id}/"
    assert api.get(path, token=admin_token).body["username"] == tenant.username
    assert (
        api.patch(path, token=admin_token, json={"company_name": "Renamed"}).body["company_name"]
        == "Renamed"
    )
    assert (
        api.patch(
            path + "set-password/", token=admin_token, json={"password": "reset by admin"}
        ).status
        == 204
    )
    assert (
        api.get(path, token=tenant.token).status == 401
    )  # an admin reset ends the user's sessions
    assert api.login(tenant.username, "reset by admin")


def test_an_admin_can_promote_a_tenant_but_not_demote_or_delete_themselves(
    api, admin_token, admin_id, tenant
):
    promoted = api.patch(f"/auth/users/{tenant.id}/", token=admin_token, json={"is_admin": True})
    assert promoted.status == 200 and promoted.body["is_admin"] is True

    demote_self = api.patch(f"/auth/users/{admin_id}/", token=admin_token, json={"is_admin": False})
    assert demote_self.status == 409
    delete_self = api.delete(f"/auth/users/{admin_id}/", token=admin_token)
    assert delete_self.status == 409
    assert api.get(f"/auth/users/{admin_id}/", token=admin_token).body["is_admin"] is True


def test_no_response_ever_carries_a_password_or_its_hash(api, admin_token, unique_email):
    username = unique_email("secretive")
    secret = "a very secret passphrase"
    replies = [
        api.post(
            "/auth/users/",
            token=admin_token,
            json={"username": username, "password": secret, "company_name": "S"},
        )
    ]
    user_id = replies[0].body["id"]
    replies.append(api.post("/auth/login/", json={"username": username, "password": secret}))
    token = replies[-1].body["token"]
    replies += [
        api.get("/auth/users/", token=admin_token),
        api.get(f"/auth/users/{user_id}/", token=token),
        api.patch(f"/auth/users/{user_id}/", token=token, json={"first_name": "S"}),
        api.post("/auth/login/", json={"username": username, "password": "wrong " + secret}),
        api.patch(
            f"/auth/users/{user_id}/set-password/", token=token, json={"password": secret + "!"}
        ),
    ]
    for reply in replies:
        assert secret not in reply.text
        assert "$argon2" not in reply.text
        assert "password_hash" not in reply.text
