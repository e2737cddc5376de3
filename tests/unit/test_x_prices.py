"""The X cost that bench.pipeline reports: call and event counts priced at X's published
prices (bench.x_prices), and the sandbox X's calls sorted into what X bills them as."""

from collections import Counter
from decimal import Decimal

import pytest

from bench import x_prices
from bench.pipeline import ROUTE_KINDS, x_kinds
from bench.x_prices import (
    CHAT_SENT,
    DM_SENT,
    POST,
    POST_WITH_URL,
    SUMMONED_REPLY,
    USER_READ,
    cost,
    price,
    unpriced,
)
from sandboxes.x.server import XSandbox


def test_calls_and_deliveries_are_priced_at_x_published_prices():
    counts = {DM_SENT: 2, "dm.received": 3, USER_READ: 1, "post.mention.create": 4}
    # 2 x $0.015 + 3 x $0.010 + 1 x $0.010 + 4 x $0.005
    assert cost(counts) == Decimal("0.090")


def test_the_three_prices_of_a_post():
    assert cost({POST: 1}) == Decimal("0.015")
    assert cost({POST_WITH_URL: 1}) == Decimal("0.200")
    assert cost({SUMMONED_REPLY: 1}) == Decimal("0.010")
    assert cost({POST: 2, POST_WITH_URL: 1, SUMMONED_REPLY: 3}) == Decimal("0.260")


def test_per_message_counts_are_priced_exactly():
    # 20 first DMs: 20 dm.received, 20 DMs sent, 20 dm.sent echoes; per message, 1 of each.
    assert cost({"dm.received": 0.5, DM_SENT: 1.5}) == Decimal("0.0275")


def test_what_x_does_not_bill_costs_nothing():
    counts = {
        "dm.sent": 7,
        "dm.read": 2,
        "dm.indicate_typing": 3,
        "chat.sent": 1,
        "OAuth 2.0 token": 5,
        "subscription management": 4,
        "media download": 2,
    }
    assert cost(counts) == 0
    assert unpriced(counts) == []


def test_a_kind_without_a_published_price_is_left_out_and_named():
    counts = {CHAT_SENT: 4, DM_SENT: 1, "chat.received": 2}
    assert cost(counts) == Decimal("0.035")
    assert unpriced(counts) == [CHAT_SENT]
    assert unpriced({CHAT_SENT: 0}) == []


def test_a_kind_nobody_priced_is_an_error_not_free():
    with pytest.raises(KeyError, match="users lookup"):
        cost({"users lookup": 1})
    with pytest.raises(KeyError):
        x_prices.price("dm.received.v2")


def test_the_sandbox_calls_are_billed_as_what_x_made_of_them():
    calls = Counter(send_dm=3, create_post=4, me=1, token=2, media_file=1)
    sent = [
        {"kind": "dm", "text": "Thanks! Case CS0010001."},
        {"kind": "dm", "text": "See https://example.com/kb"},  # a DM's price has no URL rate
        {"kind": "reply", "text": "@bob Thanks! Case CS0010002."},
        {"kind": "reply", "text": "@bob see www.example.com"},
        {"kind": "post", "text": "We are back up."},
    ]
    assert x_kinds(calls, sent) == {
        DM_SENT: 2,
        "DM refused": 1,
        SUMMONED_REPLY: 1,
        POST_WITH_URL: 1,
        POST: 1,
        "post refused": 1,
        USER_READ: 1,
        "OAuth 2.0 token": 2,
        "media download": 1,
    }
    # 2 x $0.015 + $0.010 + $0.200 + $0.015 + $0.010
    assert cost(x_kinds(calls, sent)) == Decimal("0.265")


def test_every_call_the_service_can_make_to_x_has_a_kind_with_a_price():
    """The sandbox X's routes of X's API (those it can fail; not its own controls): a new
    call the service makes cannot leave bench.pipeline without a kind or a price."""
    with XSandbox("key", "secret") as sandbox:
        routes = [route for route in sandbox._route_table() if route.faults is not None]
    names = {route.handler.__name__.lstrip("_") for route in routes}
    kinds = {name: ROUTE_KINDS.get(name) for name in names - {"send_dm", "create_post"}}

    assert [name for name, kind in kinds.items() if kind is None] == []
    for kind in kinds.values():
        price(kind)  # raises for a kind x_prices does not know
