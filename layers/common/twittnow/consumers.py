"""A customer's CSM consumer, matched by who the customer is on X: their X user id.

Never by handle. X gives a handle its user leaves to the next user who asks for it, so a
handle can name a different person from one day to the next; matched by handle, a new
user who took a former customer's handle would be given that customer's consumer, with
its cases and history. The X user id lives on the consumer's social profile, in its
social_id field (twittnow.clients.servicenow says where ServiceNow documents it), and in
our customer record, which names the consumer once it is known. The handle is kept up to
date on both, as display data.
"""

from twittnow import clock
from twittnow.clients.servicenow import SocialProfile
from twittnow.models import Customer
from twittnow.observability import logger
from twittnow.ports import Customers, ServiceNowApi

SOCIAL_CHANNEL = "Twitter"  # the name CSM's social channel records use for X


def profile_url(screen_name: str) -> str:
    return f"https://x.com/{screen_name}"


def consumer_of(customers: Customers, client: ServiceNowApi, customer: Customer) -> Customer:
    """The customer, with their consumer on the client's instance (consumer_sys_id):
    remembered, found by their X user id, or new. Each step is recorded before the next
    call, so that a retry after a crash resumes instead of making a second consumer."""
    instance_url = client.instance_url
    if customer.consumer_instance_url == instance_url and customer.consumer_sys_id:
        if customer.social_profile_sys_id:
            return customer
        linked = _link_remembered(customers, client, customer, customer.consumer_sys_id)
        if linked is not None:
            return linked
    profile = client.find_social_profile(SOCIAL_CHANNEL, customer.x_user_id)
    if profile is not None:
        return _save(
            customers,
            customer,
            consumer_sys_id=profile.consumer.sys_id,
            consumer_instance_url=instance_url,
            social_profile_sys_id=_current(client, profile, customer).sys_id,
        )
    name = customer.name or customer.screen_name
    first_name, _, last_name = name.partition(" ")
    consumer = client.create_consumer(
        first_name=first_name,
        last_name=last_name or customer.screen_name,
        social_channel=SOCIAL_CHANNEL,
        social_handle=customer.screen_name,
        social_handle_url=profile_url(customer.screen_name),
    )
    customer = _save(
        customers,
        customer,
        consumer_sys_id=consumer.sys_id,
        consumer_instance_url=instance_url,
        social_profile_sys_id=None,
    )
    return _link_remembered(customers, client, customer, consumer.sys_id) or customer


def handle_changed(client: ServiceNowApi | None, customer: Customer, screen_name: str) -> None:
    """The customer (same X user id) now has another handle: their social profile on the
    instance shows it. `client` is None when the tenant has no instance now."""
    profile_sys_id = customer.social_profile_sys_id
    if (
        client is None
        or customer.consumer_instance_url != client.instance_url
        or not profile_sys_id
    ):
        return  # no profile to update here: one found or made later gets the new handle
    client.set_social_profile(
        profile_sys_id, profile=screen_name, profile_url=profile_url(screen_name)
    )


def _link_remembered(
    customers: Customers, client: ServiceNowApi, customer: Customer, consumer_sys_id: str
) -> Customer | None:
    """Puts the customer's X user id on the social profile of the consumer our record
    names, which has no id yet: one we made, or one our record named before profiles
    carried ids. None when that consumer is not theirs after all: its profile is another
    X user's, or another customer of the tenant had it first (records made before this
    matching could share a consumer found by a recycled handle). `consumer_sys_id` is the
    customer's, as recorded."""
    profile = client.social_profile_of(consumer_sys_id, SOCIAL_CHANNEL)
    if profile is not None and profile.social_id not in ("", customer.x_user_id):
        logger.warning("A remembered consumer is another X user's; not used.")
        return None
    first = customers.with_consumer(customer.tenant_id, consumer_sys_id)
    if first is not None and first.x_user_id != customer.x_user_id:
        logger.warning("A remembered consumer was another customer's first; not used.")
        return None
    if profile is None:
        # The instance made no profile (no such social channel on it, say): the consumer
        # is still theirs, by our record; the next case tries the link again.
        return customer
    profile = _current(client, profile, customer)
    return _save(customers, customer, social_profile_sys_id=profile.sys_id)


def _current(client: ServiceNowApi, profile: SocialProfile, customer: Customer) -> SocialProfile:
    """The profile carrying the customer's X user id and current handle."""
    changes = {}
    if profile.social_id != customer.x_user_id:
        changes["social_id"] = customer.x_user_id
    if profile.handle != customer.screen_name:
        changes["profile"] = customer.screen_name
        changes["profile_url"] = profile_url(customer.screen_name)
    return client.set_social_profile(profile.sys_id, **changes) if changes else profile


def _save(customers: Customers, customer: Customer, **changes: object) -> Customer:
    customer = customer.model_copy(update={**changes, "updated_at": clock.now()})
    customers.put(customer)
    return customer
