"""Matching a customer to their CSM consumer (twittnow.consumers): by X user id, never by
handle, with the handle kept up to date. Against a sandbox ServiceNow and the customers
table in moto."""

from datetime import UTC, datetime, timedelta
from unittest.mock import patch

import pytest
import requests

from sandboxes.servicenow import ServiceNowSandbox
from tests.moto_tables import template_tables
from twittnow import consumers, repositories
from twittnow.clients.servicenow import ServiceNowClient
from twittnow.models import Customer

USER, PASSWORD = "twittnow.integration", "sandbox-password"
TENANT = "tenant-1"
JANE, NEWCOMER = "1001", "2002"  # X user ids


class Crash(Exception):
    """The processor dying between two calls."""


@pytest.fixture
def customers_table(monkeypatch):
    """The template's customers table, in moto, as twittnow.repositories reaches it."""
    with template_tables(monkeypatch, "matching", "CustomersTable"):
        yield


@pytest.fixture
def sandbox():
    with ServiceNowSandbox(USER, PASSWORD) as running:
        yield running


@pytest.fixture
def client(sandbox, customers_table):
    return ServiceNowClient(sandbox.base_url, USER, PASSWORD, timeout=5)


def customer(x_user_id: str, screen_name: str, age: timedelta = timedelta(0), **fields) -> Customer:
    created = datetime.now(UTC) - age
    return Customer(
        tenant_id=TENANT,
        x_user_id=x_user_id,
        screen_name=screen_name,
        name=screen_name.title(),
        created_at=created,
        updated_at=created,
        **fields,
    )


def stored(x_user_id: str) -> Customer:
    return repositories.customers().get(TENANT, x_user_id)


def overview(sandbox) -> dict:
    return requests.get(f"{sandbox.base_url}/sandbox", timeout=5).json()


def profiles(sandbox, consumer_sys_id: str) -> list[dict]:
    [consumer] = [c for c in overview(sandbox)["consumers"] if c["sys_id"] == consumer_sys_id]
    return consumer["social_profiles"]


def consumers_named(sandbox, handle: str) -> list[str]:
    return [
        consumer["sys_id"]
        for consumer in overview(sandbox)["consumers"]
        if any(profile["handle"] == handle for profile in consumer["social_profiles"])
    ]


def servicenow_calls(sandbox) -> int:
    return overview(sandbox)["requests"]["total"]


def made_in_servicenow(client, screen_name: str, social_id: str = "") -> str:
    """A consumer someone made on the instance (an agent, another integration), with a
    Twitter profile for `screen_name`: with an X user id on it, or none."""
    consumer = client.create_consumer(
        "Someone", "Else", "Twitter", screen_name, f"https://x.com/{screen_name}"
    )
    if social_id:
        profile = client.social_profile_of(consumer.sys_id, "Twitter")
        client.set_social_profile(profile.sys_id, social_id=social_id)
    return consumer.sys_id


# ---------------------------------------------------------------- new and known customers


def test_a_new_customer_gets_a_consumer_whose_profile_carries_their_x_user_id(client, sandbox):
    jane = consumers.consumer_of(repositories.customers(), client, customer(JANE, "jane"))

    [profile] = profiles(sandbox, jane.consumer_sys_id)
    assert (profile["social_id"], profile["handle"], profile["url"]) == (
        JANE,
        "jane",
        "https://x.com/jane",
    )
    assert (jane.social_profile_sys_id, jane.consumer_instance_url) == (
        profile["sys_id"],
        client.instance_url,
    )
    assert stored(JANE) == jane


def test_a_known_customer_is_matched_from_our_record_without_asking_servicenow(client, sandbox):
    jane = consumers.consumer_of(repositories.customers(), client, customer(JANE, "jane"))
    calls = servicenow_calls(sandbox)

    assert consumers.consumer_of(repositories.customers(), client, stored(JANE)) == stored(JANE)
    assert stored(JANE).consumer_sys_id == jane.consumer_sys_id
    assert servicenow_calls(sandbox) == calls


def test_a_profile_already_carrying_the_x_user_id_is_theirs_and_shows_their_handle_now(
    client, sandbox
):
    existing = made_in_servicenow(client, "jane_old", social_id=JANE)

    jane = consumers.consumer_of(repositories.customers(), client, customer(JANE, "jane"))

    assert jane.consumer_sys_id == existing
    assert [p["handle"] for p in profiles(sandbox, existing)] == ["jane"]


# ---------------------------------------------------------------- recycled handles


def test_a_new_x_user_with_a_former_customers_handle_never_gets_their_consumer(client, sandbox):
    janes = consumers.consumer_of(
        repositories.customers(), client, customer(JANE, "jane")
    ).consumer_sys_id
    repositories.customers().put(stored(JANE).model_copy(update={"screen_name": "jane_new"}))

    newcomer = consumers.consumer_of(repositories.customers(), client, customer(NEWCOMER, "jane"))

    assert newcomer.consumer_sys_id != janes
    assert [p["social_id"] for p in profiles(sandbox, newcomer.consumer_sys_id)] == [NEWCOMER]
    assert [p["social_id"] for p in profiles(sandbox, janes)] == [JANE]


def test_a_consumer_found_only_by_handle_is_not_taken_for_the_customer(client, sandbox):
    by_handle_only = made_in_servicenow(client, "jane")

    jane = consumers.consumer_of(repositories.customers(), client, customer(JANE, "jane"))

    assert jane.consumer_sys_id != by_handle_only
    assert sorted(consumers_named(sandbox, "jane")) == sorted(
        [by_handle_only, jane.consumer_sys_id]
    )
    assert [p["social_id"] for p in profiles(sandbox, by_handle_only)] == [""]  # left alone


# ---------------------------------------------------------------- records made before this matching


def test_a_remembered_consumer_without_an_x_user_id_gets_the_customers(client, sandbox):
    theirs = made_in_servicenow(client, "jane")
    remembered = customer(
        JANE, "jane", consumer_sys_id=theirs, consumer_instance_url=client.instance_url
    )
    repositories.customers().put(remembered)

    jane = consumers.consumer_of(repositories.customers(), client, remembered)

    assert jane.consumer_sys_id == theirs
    assert [p["social_id"] for p in profiles(sandbox, theirs)] == [JANE]
    assert stored(JANE).social_profile_sys_id == jane.social_profile_sys_id


def test_a_consumer_two_records_share_stays_with_the_customer_who_wrote_first(client, sandbox):
    """Before this matching, a newcomer with a recycled handle was given the consumer
    found by that handle: both records name it."""
    shared = made_in_servicenow(client, "jane")
    at = {"consumer_sys_id": shared, "consumer_instance_url": client.instance_url}
    first = customer(JANE, "jane_new", age=timedelta(days=30), **at)
    newcomer = customer(NEWCOMER, "jane", **at)
    for record in (first, newcomer):
        repositories.customers().put(record)

    matched = consumers.consumer_of(repositories.customers(), client, newcomer)
    assert matched.consumer_sys_id != shared
    assert consumers.consumer_of(repositories.customers(), client, first).consumer_sys_id == shared
    assert [p["social_id"] for p in profiles(sandbox, shared)] == [JANE]
    assert repositories.customers().with_consumer(TENANT, shared).x_user_id == JANE


def test_replies_to_a_shared_consumer_go_to_the_customer_who_wrote_first(customers_table):
    """POST /events/ names the customer by consumer (target): of two records sharing it,
    whichever DynamoDB lists first must not decide who gets the agent's reply."""
    at = {"consumer_sys_id": "c" * 32, "consumer_instance_url": "https://a.service-now.com"}
    newcomer = customer("1000", "jane", **at)  # listed first, by key and by time of writing
    first = customer(JANE, "jane_new", age=timedelta(days=30), **at)
    for record in (newcomer, first):
        repositories.customers().put(record)

    assert repositories.customers().with_consumer(TENANT, "c" * 32) == first
    assert repositories.customers().with_consumer("another-tenant", "c" * 32) is None


def test_a_remembered_consumer_whose_profile_is_another_x_users_is_not_used(client, sandbox):
    someone_elses = made_in_servicenow(client, "jane", social_id="3003")
    remembered = customer(
        NEWCOMER, "jane", consumer_sys_id=someone_elses, consumer_instance_url=client.instance_url
    )
    repositories.customers().put(remembered)

    matched = consumers.consumer_of(repositories.customers(), client, remembered)

    assert matched.consumer_sys_id != someone_elses
    assert [p["social_id"] for p in profiles(sandbox, someone_elses)] == ["3003"]


def test_a_consumer_remembered_on_another_instance_is_looked_up_on_this_one(client, sandbox):
    elsewhere = customer(
        JANE,
        "jane",
        consumer_sys_id="f" * 32,
        consumer_instance_url="https://other.service-now.com",
        social_profile_sys_id="e" * 32,
    )

    jane = consumers.consumer_of(repositories.customers(), client, elsewhere)

    assert jane.consumer_instance_url == client.instance_url
    assert [p["social_id"] for p in profiles(sandbox, jane.consumer_sys_id)] == [JANE]


# ---------------------------------------------------------------- retries


def test_dying_before_the_profile_got_the_x_user_id_links_the_same_consumer_on_the_retry(
    client, sandbox
):
    with (
        patch.object(ServiceNowClient, "set_social_profile", side_effect=Crash),
        pytest.raises(Crash),
    ):
        consumers.consumer_of(repositories.customers(), client, customer(JANE, "jane"))
    half_done = stored(JANE)
    assert half_done.consumer_sys_id and half_done.social_profile_sys_id is None

    jane = consumers.consumer_of(repositories.customers(), client, half_done)

    assert consumers_named(sandbox, "jane") == [jane.consumer_sys_id] == [half_done.consumer_sys_id]
    assert [p["social_id"] for p in profiles(sandbox, jane.consumer_sys_id)] == [JANE]


# ---------------------------------------------------------------- a new handle


def test_a_new_handle_of_the_same_x_user_is_shown_on_their_profile(client, sandbox):
    jane = consumers.consumer_of(repositories.customers(), client, customer(JANE, "jane"))

    consumers.handle_changed(client, jane, "jane_new")

    [profile] = profiles(sandbox, jane.consumer_sys_id)
    assert (profile["social_id"], profile["handle"], profile["url"]) == (
        JANE,
        "jane_new",
        "https://x.com/jane_new",
    )


def test_a_new_handle_changes_nothing_where_the_customer_has_no_profile(client, sandbox):
    jane = consumers.consumer_of(repositories.customers(), client, customer(JANE, "jane"))
    elsewhere = jane.model_copy(update={"consumer_instance_url": "https://other.service-now.com"})
    calls = servicenow_calls(sandbox)

    consumers.handle_changed(client, elsewhere, "jane_new")
    consumers.handle_changed(None, jane, "jane_new")
    consumers.handle_changed(client, customer(NEWCOMER, "jane"), "jane_new")

    assert servicenow_calls(sandbox) == calls
    assert [p["handle"] for p in profiles(sandbox, jane.consumer_sys_id)] == ["jane"]
