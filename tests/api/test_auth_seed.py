"""Every auth curl of seeds/000, in the order a new operator would run them.

The seed's password is `password`, which the service refuses since the security review
(README, "Auth"): the walkthrough sets passwords of its own instead."""

from datetime import UTC, datetime, timedelta

SEED_TENANT = {
    "first_name": "Tony",
    "last_name": "Stark",
    "company_name": "Stark Industries",
    "password": "Stark suits 4 Tony",
}


def test_the_seed_walkthrough(api, admin_token, unique_email):
    username = unique_email("customer")

    created = api.post(
        "/auth/users/", token=admin_token, json={"username": username, **SEED_TENANT}
    )
    assert created.status == 201, created.body
    user = created.body
    assert user["username"] == username
    assert (user["first_name"], user["last_name"], user["company_name"]) == (
        "Tony",
        "Stark",
        "Stark Industries",
    )
    assert user["is_admin"] is False
    assert len(user["id"]) == 36  # a UUID

    listed = api.get(f"/auth/users/?search={username}", token=admin_token)
    assert listed.status == 200
    assert set(listed.body) == {"count", "next", "previous", "results"}
    assert user["id"] in [listed_user["id"] for listed_user in listed.body["results"]]

    login = api.post(
        "/auth/login/", json={"username": username, "password": SEED_TENANT["password"]}
    )
    assert login.status == 200, login.body
    token = login.body["token"]
    expiry = datetime.fromisoformat(login.body["expiry"])
    assert timedelta(days=29, hours=23) < expiry - datetime.now(UTC) <= timedelta(days=30)
    assert login.body["user"]["id"] == user["id"]

    fetched = api.get(f"/auth/users/{user['id']}/", token=token)
    assert fetched.status == 200 and fetched.body["username"] == username

    patched = api.patch(f"/auth/users/{user['id']}/", token=token, json={"last_name": "Jarvis"})
    assert patched.status == 200 and patched.body["last_name"] == "Jarvis"
    assert patched.body["first_name"] == "Tony"

    replaced = api.put(
        f"/auth/users/{user['id']}/",
        token=token,
        json={
            "first_name": "Pepper",
            "last_name": "Pots",
            "username": username,
            "company_name": "The Stark Company",
        },
    )
    assert replaced.status == 200, replaced.body
    assert (
        replaced.body["first_name"],
        replaced.body["last_name"],
        replaced.body["company_name"],
    ) == (
        "Pepper",
        "Pots",
        "The Stark Company",
    )

    new_password = api.patch(
        f"/auth/users/{user['id']}/set-password/",
        token=token,
        json={"password": "a better password"},
    )
    assert new_password.status == 204
    assert (
        api.post(
            "/auth/login/", json={"username": username, "password": SEED_TENANT["password"]}
        ).status
        == 401
    )
    second_token = api.login(username, "a better password")

    assert api.post("/auth/logout/", token=token).status == 204
    assert api.get(f"/auth/users/{user['id']}/", token=token).status == 401
    assert api.get(f"/auth/users/{user['id']}/", token=second_token).status == 200

    third_token = api.login(username, "a better password")
    assert api.post("/auth/logout-all/", token=second_token).status == 204
    assert api.get(f"/auth/users/{user['id']}/", token=second_token).status == 401
    assert api.get(f"/auth/users/{user['id']}/", token=third_token).status == 401

    fourth_token = api.login(username, "a better password")
    deleted = api.delete(f"/auth/users/{user['id']}/", token=admin_token)
    assert deleted.status == 204
    assert api.get(f"/auth/users/{user['id']}/", token=fourth_token).status == 401
    assert api.get(f"/auth/users/{user['id']}/", token=admin_token).status == 404
    assert (
        api.post(
            "/auth/login/", json={"username": username, "password": "a better password"}
        ).status
        == 401
    )
