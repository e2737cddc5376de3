"""The audit log: who changed what, when, from where; field names only, never values."""

import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest

from tests.api.client import all_pages, assert_envelope

ENTRY_FIELDS = {
    "id",
    "timestamp",
    "user",
    "user_id",
    "action",
    "resource_type",
    "resource_id",
    "tenant_id",
    "changed_fields",
    "ip_address",
}
SN_PASSWORDS = [f"sn-first-{uuid.uuid4().hex}", f"sn-second-{uuid.uuid4().hex}"]


def audit(api, token, **filters):
    query = "&".join(f"{name}={quote(str(value))}" for name, value in filters.items())
    return all_pages(api, f"/audit/?page_size=200&{query}", token)


def at(entry) -> datetime:
    return datetime.fromisoformat(entry["timestamp"])


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@pytest.fixture
def history(api, admin_token, admin_id, tenant):
    """A tenant's life through every audited call. Returns what the log should say,
    oldest first: (action, actor id, resource id or None, changed fields or None)."""
    new_password = f"pw-new-{uuid.uuid4().hex}"
    expected = [("user.created", admin_id, tenant.id, None)]

    assert (
        api.patch(
            f"/auth/users/{tenant.id}/", token=tenant.token, json={"last_name": "Audited"}
        ).status
        == 200
    )
    expected.append(("user.updated", tenant.id, tenant.id, ["last_name"]))
    assert (
        api.patch(
            f"/auth/users/{tenant.id}/set-password/",
            token=tenant.token,
            json={"password": new_password},
        ).status
        == 204
    )
    expected.append(("user.password_set", tenant.id, tenant.id, None))

    details = api.post(
        "/servicenow-details/",
        token=tenant.token,
        json={
            "instance_url": "https://dev119258.service-now.com",
            "admin_user": "admin",
            "admin_password": SN_PASSWORDS[0],
        },
    )
    assert details.status == 201, details.body
    details_path = f"/servicenow-details/{details.body['id']}/"
    expected.append(("servicenow_details.created", tenant.id, details.body["id"], None))
    assert (
        api.patch(
            details_path,
            token=tenant.token,
            json={"admin_user": "Twitter", "admin_password": SN_PASSWORDS[1]},
        ).status
        == 200
    )
    expected.append(
        (
            "servicenow_details.updated",
            tenant.id,
            details.body["id"],
            ["admin_password", "admin_user"],
        )
    )
    assert (
        api.patch(
            details_path, token=tenant.token, json={"admin_password": SN_PASSWORDS[1] + "!"}
        ).status
        == 200
    )
    expected.append(
        ("servicenow_details.updated", tenant.id, details.body["id"], ["admin_password"])
    )
    assert api.delete(details_path, token=tenant.token).status == 204
    expected.append(("servicenow_details.deleted", tenant.id, details.body["id"], None))

    field = api.post(
        "/custom-fields/",
        token=tenant.token,
        json={"field_name": "City", "message": "Which city do you live in?"},
    )
    assert field.status == 201, field.body
    field_path = f"/custom-fields/{field.body['id']}/"
    expected.append(("custom_field.created", tenant.id, field.body["id"], None))
    assert (
        api.patch(field_path, token=tenant.token, json={"message": "Where do you live?"}).status
        == 200
    )
    expected.append(("custom_field.updated", tenant.id, field.body["id"], ["message"]))
    assert api.delete(field_path, token=tenant.token).status == 204
    expected.append(("custom_field.deleted", tenant.id, field.body["id"], None))

    key = api.post("/api-key/", token=tenant.token)
    assert key.status == 201, key.body
    expected.append(("api_key.created", tenant.id, None, None))

    assert api.delete(f"/auth/users/{tenant.id}/", token=admin_token).status == 204
    expected.append(("user.deleted", admin_id, tenant.id, None))
    return {
        "expected": expected,
        "secrets": [tenant.password, new_password, tenant.token, key.body["token"], *SN_PASSWORDS],
    }


def test_every_change_is_recorded_newest_first(api, admin_token, tenant, history):
    entries = audit(api, admin_token, user_id=tenant.id)
    expected = list(reversed(history["expected"]))

    assert [entry["action"] for entry in entries] == [action for action, *_ in expected]
    timestamps = [at(entry) for entry in entries]
    assert timestamps == sorted(timestamps, reverse=True)
    assert len({entry["id"] for entry in entries}) == len(entries)
    for entry, (action, actor_id, resource_id, changed) in zip(entries, expected, strict=True):
        assert set(entry) == ENTRY_FIELDS, entry
        assert entry["user_id"] == actor_id, entry
        assert entry["user"] == (
            tenant.username if actor_id == tenant.id else api.stack.admin_username
        ), entry
        assert entry["resource_type"] == action.partition(".")[0], entry
        assert entry["tenant_id"] == tenant.id, entry
        assert entry["ip_address"] == "127.0.0.1", entry
        assert isinstance(entry["changed_fields"], list)
        if resource_id is not None:
            assert entry["resource_id"] == resource_id, entry
        if changed is not None:
            assert sorted(entry["changed_fields"]) == changed, entry
        assert at(entry).tzinfo is not None


def test_no_secret_reaches_the_log(api, admin_token, tenant, history):
    replies = [
        api.get(f"/audit/?user_id={tenant.id}&page_size=200", token=admin_token),
        api.get("/audit/?page_size=200", token=admin_token),
    ]
    for reply in replies:
        assert reply.status == 200
        for secret in history["secrets"]:
            assert secret not in reply.text
        assert "$argon2" not in reply.text


def test_the_user_id_filter_matches_the_actor_or_the_tenant(api, admin_token, admin_id, tenant):
    field = api.post(
        "/custom-fields/", token=tenant.token, json={"field_name": "City", "message": "Which city?"}
    )
    patched = api.patch(
        f"/custom-fields/{field.body['id']}/", token=admin_token, json={"message": "Set by admin"}
    )
    assert patched.status == 200, patched.body
    details = api.post(
        "/servicenow-details/",
        token=admin_token,
        json={
            "instance_url": "https://dev1.service-now.com",
            "admin_user": "admin",
            "admin_password": "pw",
            "user": tenant.id,
        },
    )
    assert details.status == 201, details.body

    as_tenant = audit(api, admin_token, user_id=tenant.id)
    by_admin = [entry for entry in as_tenant if entry["user_id"] == admin_id]
    assert [(entry["action"], entry["resource_id"]) for entry in by_admin] == [
        ("servicenow_details.created", details.body["id"]),
        ("custom_field.updated", field.body["id"]),
        ("user.created", tenant.id),
    ]
    assert all(entry["tenant_id"] == tenant.id for entry in as_tenant)

    as_admin = audit(api, admin_token, user_id=admin_id, action="custom_field.updated")
    assert field.body["id"] in [entry["resource_id"] for entry in as_admin]
    assert all(entry["user_id"] == admin_id or entry["tenant_id"] == admin_id for entry in as_admin)


def test_an_admins_password_reset_is_recorded_without_the_password(
    api, admin_token, admin_id, tenant
):
    password = f"reset-{uuid.uuid4().hex}"
    assert (
        api.patch(
            f"/auth/users/{tenant.id}/set-password/", token=admin_token, json={"password": password}
        ).status
        == 204
    )
    reply = api.get(f"/audit/?user_id={tenant.id}&action=user.password_set", token=admin_token)
    assert reply.status == 200
    [entry] = reply.body["results"]
    assert (entry["user_id"], entry["resource_id"], entry["tenant_id"]) == (
        admin_id,
        tenant.id,
        tenant.id,
    )
    assert password not in reply.text


def test_the_action_filter_is_exact(api, admin_token, tenant):
    for name in ("City", "Country"):
        assert (
            api.post(
                "/custom-fields/", token=tenant.token, json={"field_name": name, "message": "?"}
            ).status
            == 201
        )

    # Refused requests change nothing, so they record nothing.
    assert (
        api.post(
            "/custom-fields/", token=tenant.token, json={"field_name": "CITY", "message": "?"}
        ).status
        == 409
    )
    assert (
        api.post(
            "/custom-fields/", token=tenant.token, json={"field_name": "", "message": "?"}
        ).status
        == 400
    )
    assert (
        api.post(
            "/servicenow-details/",
            token=tenant.token,
            json={
                "instance_url": "https://evil.example.com",
                "admin_user": "a",
                "admin_password": "p",
            },
        ).status
        == 400
    )

    created = audit(api, admin_token, user_id=tenant.id, action="custom_field.created")
    assert [entry["action"] for entry in created] == ["custom_field.created"] * 2
    assert [entry["action"] for entry in audit(api, admin_token, user_id=tenant.id)] == [
        "custom_field.created",
        "custom_field.created",
        "user.created",
    ]
    assert audit(api, admin_token, user_id=tenant.id, action="custom_field") == []
    assert audit(api, admin_token, user_id=tenant.id, action="CUSTOM_FIELD.CREATED") == []
    assert [
        entry["action"]
        for entry in audit(api, admin_token, user_id=tenant.id, action="user.created")
    ] == ["user.created"]


# ---------------------------------------------------------------- dates


def test_date_filters(api, admin_token, tenant):
    assert (
        api.post(
            "/custom-fields/", token=tenant.token, json={"field_name": "City", "message": "?"}
        ).status
        == 201
    )
    entries = audit(api, admin_token, user_id=tenant.id)
    assert len(entries) == 2  # user.created, custom_field.created
    oldest, newest = at(entries[-1]), at(entries[0])
    day = newest.astimezone(UTC).date()
    ours = [entry["id"] for entry in entries]

    def ids(**filters):
        return [entry["id"] for entry in audit(api, admin_token, user_id=tenant.id, **filters)]

    if oldest.astimezone(UTC).date() == day:  # not straddling midnight
        assert ids(start_date=day.isoformat()) == ours
        assert ids(end_date=day.isoformat()) == ours  # a date-only end_date takes in the whole day
        assert ids(start_date=day.isoformat(), end_date=day.isoformat()) == ours
    assert ids(end_date=(day - timedelta(days=1)).isoformat()) == []
    assert (
        ids(
            start_date=(day + timedelta(days=1)).isoformat(),
            end_date=(day + timedelta(days=2)).isoformat(),
        )
        == []
    )

    assert (
        ids(
            start_date=iso(oldest - timedelta(minutes=5)),
            end_date=iso(newest + timedelta(minutes=5)),
        )
        == ours
    )
    assert ids(start_date=iso(oldest - timedelta(minutes=5))) == ours
    assert (
        ids(
            start_date=iso(newest + timedelta(minutes=5)),
            end_date=iso(newest + timedelta(minutes=10)),
        )
        == []
    )
    assert ids(end_date=iso(oldest - timedelta(minutes=5))) == []
    assert (
        ids(start_date=iso(oldest - timedelta(minutes=5)).replace("Z", "+00:00")) == ours
    )  # an offset, %2B-encoded


def test_a_start_in_the_future_without_an_end_matches_nothing(api, admin_token, tenant):
    """Only a start after the given end is a mistake; "since tomorrow" is an empty page."""
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    in_an_hour = iso(datetime.now(UTC) + timedelta(hours=1))
    assert audit(api, admin_token, user_id=tenant.id, start_date=tomorrow) == []
    assert audit(api, admin_token, user_id=tenant.id, start_date=in_an_hour) == []


@pytest.mark.parametrize(
    "query,field",
    [
        ("start_date=yesterday", "start_date"),
        ("start_date=2024-13-01", "start_date"),
        ("end_date=2024-02-30", "end_date"),
        ("end_date=2024-01-01T25:00:00Z", "end_date"),
        ("page=0", "page"),
        ("page_size=1000", "page_size"),
    ],
)
def test_bad_filters_are_400(api, admin_token, query, field):
    assert_envelope(api.get(f"/audit/?{query}", token=admin_token), 400, "VALIDATION_ERROR", field)


@pytest.mark.parametrize(
    "start,end",
    [
        ("2024-02-01", "2024-01-31"),
        ("2024-01-02T00:00:00Z", "2024-01-01T23:59:59Z"),
        ("2024-01-02", "2024-01-01T12:00:00Z"),
    ],
)
def test_a_start_after_the_end_is_400(api, admin_token, start, end):
    reply = api.get(f"/audit/?start_date={quote(start)}&end_date={quote(end)}", token=admin_token)
    assert_envelope(reply, 400, "VALIDATION_ERROR")
    assert reply.body["details"]


# ---------------------------------------------------------------- access and pages


def test_tenants_are_refused_and_anonymous_callers_unauthenticated(api, tenant):
    assert_envelope(api.get("/audit/", token=tenant.token), 403, "PERMISSION_DENIED")
    assert_envelope(
        api.get(f"/audit/?user_id={tenant.id}", token=tenant.token), 403, "PERMISSION_DENIED"
    )
    reply = api.get("/audit/")
    assert_envelope(reply, 401, "NOT_AUTHENTICATED")
    assert reply.headers["WWW-Authenticate"] == "Token"
    assert_envelope(
        api.get("/audit/", headers={"Authorization": "Token not-a-real-token"}),
        401,
        "NOT_AUTHENTICATED",
    )


def test_the_log_is_paginated(api, admin_token, tenant):
    for name in ("A", "B", "C"):
        assert (
            api.post(
                "/custom-fields/", token=tenant.token, json={"field_name": name, "message": "?"}
            ).status
            == 201
        )
    everything = audit(api, admin_token, user_id=tenant.id)
    assert len(everything) == 4

    first = api.get(f"/audit/?user_id={tenant.id}&page_size=3", token=admin_token).body
    assert set(first) == {"count", "next", "previous", "results"}
    assert first["count"] == 4 and first["previous"] is None and first["next"]
    second = api.get(first["next"], token=admin_token).body
    assert second["next"] is None and second["previous"]
    assert first["results"] + second["results"] == everything
    assert_envelope(
        api.get(f"/audit/?user_id={tenant.id}&page=3&page_size=3", token=admin_token),
        404,
        "NOT_FOUND",
    )

    unfiltered = api.get("/audit/?page_size=2", token=admin_token).body
    assert len(unfiltered["results"]) == 2 and unfiltered["count"] >= 4
    assert at(unfiltered["results"][0]) >= at(unfiltered["results"][1])
