"""Custom fields: the questions a tenant's bot asks a customer before opening a case."""

import threading
import uuid

import pytest

from tests.api.client import all_pages, assert_envelope

SEED = {"field_name": "City", "message": "Which city do you live in?"}
FIELDS = {"id", "user", "field_name", "message", "created_at", "updated_at"}
UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"


def fields_of(api, token, query=""):
    return all_pages(api, f"/custom-fields/?page_size=200{query}", token)


def create(api, token, **body):
    reply = api.post("/custom-fields/", token=token, json=body or SEED)
    assert reply.status == 201, reply.body
    return reply.body


def test_the_seed_walkthrough(api, tenant):
    created = api.post("/custom-fields/", token=tenant.token, json=SEED)
    assert created.status == 201, created.body
    field = created.body
    assert set(field) == FIELDS
    assert (field["user"], field["field_name"], field["message"]) == (
        tenant.id,
        "City",
        "Which city do you live in?",
    )
    assert field["created_at"] and field["updated_at"]

    listed = api.get("/custom-fields/", token=tenant.token)
    assert listed.status == 200
    assert listed.body == {"count": 1, "next": None, "previous": None, "results": [field]}

    assert api.delete(f"/custom-fields/{field['id']}/", token=tenant.token).status == 204
    assert api.get("/custom-fields/", token=tenant.token).body["count"] == 0
    assert_envelope(
        api.delete(f"/custom-fields/{field['id']}/", token=tenant.token), 404, "NOT_FOUND"
    )


def test_fields_are_listed_in_creation_order_and_paginated(api, tenant):
    names = ["City", "Order number", "Account", "Phone"]
    created = [
        create(api, tenant.token, field_name=name, message=f"Your {name}?") for name in names
    ]

    first = api.get("/custom-fields/?page_size=3", token=tenant.token).body
    assert first["count"] == 4 and first["previous"] is None
    assert [f["field_name"] for f in first["results"]] == names[:3]
    second = api.get(first["next"], token=tenant.token).body
    assert [f["field_name"] for f in second["results"]] == names[3:]
    assert second["next"] is None and second["previous"]
    assert fields_of(api, tenant.token) == created
    assert_envelope(
        api.get("/custom-fields/?page=3&page_size=3", token=tenant.token), 404, "NOT_FOUND"
    )


def test_a_caller_lists_only_its_own_fields(api, admin_token, tenant, other_tenant):
    mine = create(api, tenant.token)
    theirs = create(api, other_tenant.token, field_name="Country", message="Which country?")
    assert fields_of(api, tenant.token) == [mine]
    assert fields_of(api, other_tenant.token) == [theirs]
    admins_own = [f["id"] for f in fields_of(api, admin_token)]
    assert mine["id"] not in admins_own and theirs["id"] not in admins_own


def test_an_admin_lists_a_tenants_fields(api, admin_token, tenant):
    mine = create(api, tenant.token)
    assert fields_of(api, admin_token, f"&user={tenant.id}") == [mine]


def test_a_tenant_cannot_list_another_tenants_fields(api, tenant, other_tenant):
    secret_name = f"Secret question {uuid.uuid4().hex}"
    create(api, other_tenant.token, field_name=secret_name, message="Only for other")
    reply = api.get(f"/custom-fields/?user={other_tenant.id}", token=tenant.token)

    assert reply.status in (403, 404), reply.body
    assert_envelope(
        reply, reply.status, "PERMISSION_DENIED" if reply.status == 403 else "NOT_FOUND"
    )
    assert secret_name not in reply.text and "Only for other" not in reply.text


def test_names_are_trimmed(api, tenant):
    field = create(api, tenant.token, field_name="  City  ", message="Which city do you live in?")
    assert field["field_name"] == "City"


@pytest.mark.parametrize("name", ["City", "city", "CITY", " City "])
def test_names_are_unique_per_tenant_whatever_their_case(api, tenant, name):
    first = create(api, tenant.token)
    reply = api.post(
        "/custom-fields/", token=tenant.token, json={"field_name": name, "message": "Again?"}
    )
    assert_envelope(reply, 409, "CONFLICT", "field_name")
    assert reply.body["details"] == {"field_name": ["This field must be unique."]}
    assert fields_of(api, tenant.token) == [first]


@pytest.mark.parametrize(
    "first,look_alike",
    [("City", "Ｃｉｔｙ"), ("Straße", "STRASSE"), ("Office", "Oﬃce"), ("Floor 2", "Floor ²")],
)
def test_look_alike_names_are_the_same_name(api, tenant, first, look_alike):
    """Fullwidth letters, ligatures and superscripts (NFKC), and full case folding."""
    field = create(api, tenant.token, field_name=first, message="Which one?")
    reply = api.post(
        "/custom-fields/", token=tenant.token, json={"field_name": look_alike, "message": "Again?"}
    )
    assert_envelope(reply, 409, "CONFLICT", "field_name")
    assert fields_of(api, tenant.token) == [field]


def test_a_dotless_i_makes_another_name(api, tenant):
    """Turkish ı is a letter of its own, not a look-alike NFKC or case folding maps to i;
    mapping it would merge distinct Turkish words. Only confusable skeletons (UTS #39)
    would catch it, and a tenant can only confuse itself with its own field names."""
    create(api, tenant.token)
    assert (
        create(api, tenant.token, field_name="Cıty", message="Which cıty?")["field_name"] == "Cıty"
    )


def test_concurrent_renames_of_one_field_leave_one_name_claimed(api, tenant):
    """Of renames read from the same field, the later ones must not write over the first,
    which would leave the first new name claimed by a field that no longer has it."""
    field = create(api, tenant.token)
    names = [f"Town {index}" for index in range(6)]
    statuses, start = [], threading.Barrier(len(names))

    def rename(name):
        start.wait()
        statuses.append(
            api.patch(
                f"/custom-fields/{field['id']}/", token=tenant.token, json={"field_name": name}
            ).status
        )

    threads = [threading.Thread(target=rename, args=(name,)) for name in names]
    [thread.start() for thread in threads]
    [thread.join() for thread in threads]

    assert set(statuses) <= {200, 409} and 200 in statuses
    [final] = [listed["field_name"] for listed in fields_of(api, tenant.token)]
    for name in [*names, "City"]:  # every name but the final one is free again
        reply = api.post(
            "/custom-fields/", token=tenant.token, json={"field_name": name, "message": "Free?"}
        )
        assert reply.status == (409 if name == final else 201), (name, final, reply.body)


def test_a_rename_racing_a_delete_leaves_no_name_claimed(api, tenant):
    field = create(api, tenant.token)
    start, statuses = threading.Barrier(2), {}

    def call(method, body):
        start.wait()
        statuses[method] = api.request(
            method, f"/custom-fields/{field['id']}/", token=tenant.token, json=body
        ).status

    threads = [
        threading.Thread(target=call, args=("PATCH", {"field_name": "Town"})),
        threading.Thread(target=call, args=("DELETE", None)),
    ]
    [thread.start() for thread in threads]
    [thread.join() for thread in threads]

    assert statuses["DELETE"] in (204, 409) and statuses["PATCH"] in (200, 404, 409), statuses
    if statuses["DELETE"] == 204:
        for name in ("City", "Town"):
            assert create(api, tenant.token, field_name=name, message="Free?")["field_name"] == name


def test_another_tenant_may_use_the_same_name(api, tenant, other_tenant):
    create(api, tenant.token)
    assert create(api, other_tenant.token)["user"] == other_tenant.id


def test_of_concurrent_creates_of_one_name_exactly_one_succeeds(api, tenant):
    statuses = []

    def post(name):
        statuses.append(
            api.post(
                "/custom-fields/", token=tenant.token, json={**SEED, "field_name": name}
            ).status
        )

    threads = [threading.Thread(target=post, args=(name,)) for name in ["City", "CITY", "city"]]
    [thread.start() for thread in threads]
    [thread.join() for thread in threads]
    assert sorted(statuses) == [201, 409, 409]
    listed = api.get("/custom-fields/", token=tenant.token).body
    assert [field["field_name"].lower() for field in listed["results"]] == ["city"]


def test_a_deleted_or_renamed_fields_name_is_free_again(api, tenant):
    field = create(api, tenant.token)
    renamed = api.patch(
        f"/custom-fields/{field['id']}/", token=tenant.token, json={"field_name": "Town"}
    )
    assert renamed.status == 200, renamed.body
    city_again = create(api, tenant.token, field_name="city", message="Which city?")
    assert api.delete(f"/custom-fields/{city_again['id']}/", token=tenant.token).status == 204
    assert (
        create(api, tenant.token, field_name="CITY", message="Which city?")["field_name"] == "CITY"
    )
    assert_envelope(
        api.post(
            "/custom-fields/", token=tenant.token, json={"field_name": "town", "message": "m"}
        ),
        409,
        "CONFLICT",
        "field_name",
    )


# ---------------------------------------------------------------- updates


def test_the_owner_updates_a_field(api, tenant):
    field = create(api, tenant.token)
    path = f"/custom-fields/{field['id']}/"

    message = api.patch(path, token=tenant.token, json={"message": "Where do you live?"})
    assert message.status == 200, message.body
    assert set(message.body) == FIELDS
    assert (message.body["field_name"], message.body["message"]) == ("City", "Where do you live?")
    assert message.body["created_at"] == field["created_at"]
    assert message.body["updated_at"] >= field["updated_at"]

    both = api.patch(
        path, token=tenant.token, json={"field_name": "Town", "message": "Which town?"}
    )
    assert (both.body["field_name"], both.body["message"]) == ("Town", "Which town?")
    assert fields_of(api, tenant.token) == [both.body]


def test_a_field_may_change_the_case_of_its_own_name(api, tenant):
    field = create(api, tenant.token)
    reply = api.patch(
        f"/custom-fields/{field['id']}/", token=tenant.token, json={"field_name": "CITY"}
    )
    assert reply.status == 200, reply.body
    assert reply.body["field_name"] == "CITY"


def test_renaming_onto_an_existing_name_is_a_409_and_changes_nothing(api, tenant):
    city = create(api, tenant.token)
    country = create(api, tenant.token, field_name="Country", message="Which country?")
    reply = api.patch(
        f"/custom-fields/{country['id']}/", token=tenant.token, json={"field_name": "city"}
    )
    assert_envelope(reply, 409, "CONFLICT", "field_name")
    assert fields_of(api, tenant.token) == [city, country]
    # The losing rename released nothing: Country is still taken.
    assert (
        api.post(
            "/custom-fields/", token=tenant.token, json={"field_name": "country", "message": "m"}
        ).status
        == 409
    )


def test_an_admin_updates_and_deletes_a_tenants_field(api, admin_token, tenant):
    field = create(api, tenant.token)
    path = f"/custom-fields/{field['id']}/"
    patched = api.patch(path, token=admin_token, json={"message": "Set by admin"})
    assert patched.status == 200, patched.body
    assert patched.body["user"] == tenant.id and patched.body["message"] == "Set by admin"
    assert api.delete(path, token=admin_token).status == 204
    assert fields_of(api, tenant.token) == []


@pytest.mark.parametrize(
    "method,body",
    [("PATCH", {"message": "Hacked"}), ("PATCH", {"field_name": "Hacked"}), ("DELETE", None)],
)
def test_another_tenants_field_is_404_and_untouched(api, tenant, other_tenant, method, body):
    field = create(api, other_tenant.token)
    reply = api.request(method, f"/custom-fields/{field['id']}/", token=tenant.token, json=body)
    assert_envelope(reply, 404, "NOT_FOUND")
    assert fields_of(api, other_tenant.token) == [field]


@pytest.mark.parametrize("method,body", [("PATCH", {"message": "m"}), ("DELETE", None)])
def test_unknown_ids_are_404(api, admin_token, method, body):
    assert_envelope(
        api.request(method, f"/custom-fields/{UNKNOWN_ID}/", token=admin_token, json=body),
        404,
        "NOT_FOUND",
    )


@pytest.mark.parametrize(
    "method,path",
    [
        ("POST", "/custom-fields/"),
        ("GET", "/custom-fields/"),
        ("PATCH", "/custom-fields/{id}/"),
        ("DELETE", "/custom-fields/{id}/"),
    ],
)
@pytest.mark.parametrize("authorization", [None, "Token not-a-real-token"])
def test_anonymous_callers_get_401_before_the_body_is_read(
    api, tenant, method, path, authorization
):
    field = create(api, tenant.token)
    headers = {"Authorization": authorization} if authorization else {}
    reply = api.request(method, path.format(id=field["id"]), headers=headers, data="{not json")
    assert_envelope(reply, 401, "NOT_AUTHENTICATED")
    assert fields_of(api, tenant.token) == [field]


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "body,fields",
    [
        ({"message": "Which city?"}, ["field_name"]),
        ({"field_name": "City"}, ["message"]),
        ({}, ["field_name", "message"]),
        ({**SEED, "field_name": ""}, ["field_name"]),
        ({**SEED, "field_name": "   "}, ["field_name"]),
        ({**SEED, "field_name": "x" * 101}, ["field_name"]),
        ({**SEED, "message": ""}, ["message"]),
        ({**SEED, "message": "\x00\u202e\x1b"}, ["message"]),  # blank on X
        ({**SEED, "message": "x" * 1001}, ["message"]),
        ({**SEED, "field_name": 42}, ["field_name"]),
        ({**SEED, "message": ["Which city?"]}, ["message"]),
        ({**SEED, "field_name": None}, ["field_name"]),
        ({**SEED, "id": "chosen"}, ["id"]),
        ({**SEED, "favourite_colour": "red"}, ["favourite_colour"]),
        ([SEED], ["body"]),
        ("City", ["body"]),
    ],
)
def test_create_rejects_bad_bodies(api, tenant, body, fields):
    reply = api.post("/custom-fields/", token=tenant.token, json=body)
    assert_envelope(reply, 400, "VALIDATION_ERROR", *fields)
    assert fields_of(api, tenant.token) == []


@pytest.mark.parametrize("data", ["{not json", "", '{"field_name": "City",}'])
def test_create_rejects_malformed_or_missing_json(api, tenant, data):
    assert_envelope(
        api.post("/custom-fields/", token=tenant.token, data=data), 400, "VALIDATION_ERROR", "body"
    )
    assert fields_of(api, tenant.token) == []


def test_a_tenant_cannot_create_a_field_for_another_tenant(api, tenant, other_tenant):
    """The contract's body has no `user`; if one is taken, it is an admin's."""
    reply = api.post("/custom-fields/", token=tenant.token, json={**SEED, "user": other_tenant.id})
    assert reply.status in (400, 403), reply.body
    assert_envelope(
        reply, reply.status, "VALIDATION_ERROR" if reply.status == 400 else "PERMISSION_DENIED"
    )
    assert fields_of(api, tenant.token) == [] and fields_of(api, other_tenant.token) == []


def test_the_longest_names_and_messages_are_accepted(api, tenant):
    field = create(api, tenant.token, field_name="n" * 100, message="m" * 1000)
    assert (len(field["field_name"]), len(field["message"])) == (100, 1000)


@pytest.mark.parametrize(
    "body,field",
    [
        ({"field_name": ""}, "field_name"),
        ({"field_name": "  "}, "field_name"),
        ({"field_name": "x" * 101}, "field_name"),
        ({"field_name": None}, "field_name"),
        ({"message": ""}, "message"),
        ({"message": "\x07 \u2066"}, "message"),
        ({"message": "x" * 1001}, "message"),
        ({"message": None}, "message"),
        ({"message": 42}, "message"),
        ({"user": "someone-else"}, "user"),
        ({"favourite_colour": "red"}, "favourite_colour"),
    ],
)
def test_updates_reject_bad_bodies_and_change_nothing(api, tenant, body, field):
    created = create(api, tenant.token)
    reply = api.patch(f"/custom-fields/{created['id']}/", token=tenant.token, json=body)
    assert_envelope(reply, 400, "VALIDATION_ERROR", field)
    assert fields_of(api, tenant.token) == [created]


def test_an_empty_patch_changes_nothing(api, tenant):
    created = create(api, tenant.token)
    reply = api.patch(f"/custom-fields/{created['id']}/", token=tenant.token, json={})
    assert reply.status in (200, 400), reply.body
    assert fields_of(api, tenant.token)[0]["field_name"] == "City"


def test_trailing_slashes_are_optional(api, tenant):
    field = api.post("/custom-fields", token=tenant.token, json=SEED)
    assert field.status == 201, field.body
    assert api.get("/custom-fields", token=tenant.token).body["count"] == 1
    assert (
        api.patch(
            f"/custom-fields/{field.body['id']}", token=tenant.token, json={"message": "m"}
        ).status
        == 200
    )
    assert api.delete(f"/custom-fields/{field.body['id']}", token=tenant.token).status == 204
    details = api.post(
        "/servicenow-details",
        token=tenant.token,
        json={
            "instance_url": "https://dev1.service-now.com",
            "admin_user": "a",
            "admin_password": "p",
        },
    )
    assert details.status == 201, details.body
    assert api.get(f"/servicenow-details/{details.body['id']}", token=tenant.token).status == 200
    assert api.post("/api-key", token=tenant.token).status == 201
