"""X's prices, in one place: what each kind of X call the service makes, and each event X
delivers to it, costs at X's published pay-per-use prices (since 2026-02-06).

Source, checked in the stored X docs (repository xdevplatform/docs, commit c2317112 of
2026-08-13): x-api/getting-started/pricing.mdx, "Credit consumption details" (User: Read
$0.010 per resource; Post: Create $0.015, with URL $0.200, summoned $0.010 per request;
DM Interaction: Create $0.015 per request; "Webhook events": dm.received and
chat.received $0.010, post.create $0.005, dm.sent, dm.read, dm.indicate_typing,
chat.sent and chat.conversation_join not billed). x-api/activity/introduction.mdx,
"Billing": each delivered post event, post.mention.create and post.reply.create among
them, "is billed as a Post" ($0.005, as post.create and Posts: Read). The same as
../shared/DESIGN.md section 4, "Pricing", which leaves out the post events.

Not in X's price list, so not priced here: sending in X Chat and reading a chat
conversation's events (their prices are not published), X Chat's public and conversation
keys, OAuth (request and access tokens, the app's bearer token, OAuth 2.0 code
exchange and refresh), the webhook and subscription management calls, and the download
of a DM's media from ton.twitter.com or a post's from pbs/video.twimg.com. Deliveries
through the Account Activity API (AAA) are not in the list either.

X deduplicates charges for the same resource (a post, a user) within a UTC day
(pricing.mdx, "Deduplication"); these prices are per call and per event, before that.
"""

from collections.abc import Mapping
from decimal import Decimal

# What the service does on X, by kind (bench.pipeline names every counted call one).
DM_SENT = "DM sent"
POST = "post created"
POST_WITH_URL = "post created with a URL"
SUMMONED_REPLY = "summoned reply"
USER_READ = "user read"
CHAT_SENT = "X Chat message sent"
CHAT_EVENTS_READ = "X Chat events read"  # a conversation's history, for reconciliation

# Dollars per call or per delivered event.
PRICES: dict[str, Decimal] = {
    DM_SENT: Decimal("0.015"),  # DM Interaction: Create
    POST: Decimal("0.015"),  # Post: Create
    POST_WITH_URL: Decimal("0.200"),  # Post: Create (with URL)
    SUMMONED_REPLY: Decimal("0.010"),  # Post: Create (summoned)
    USER_READ: Decimal("0.010"),  # User: Read, per user in the answer
    # X Activity API deliveries, by event type ("Webhook events")
    "dm.received": Decimal("0.010"),
    "chat.received": Decimal("0.010"),
    "dm.sent": Decimal("0"),
    "dm.read": Decimal("0"),
    "dm.indicate_typing": Decimal("0"),
    "chat.sent": Decimal("0"),
    "chat.conversation_join": Decimal("0"),
    "post.create": Decimal("0.005"),
    "post.mention.create": Decimal("0.005"),  # billed as a Post (activity/introduction.mdx)
    "post.reply.create": Decimal("0.005"),
}
# Kinds X bills or may bill but publishes no price for.
UNPUBLISHED = frozenset({CHAT_SENT, CHAT_EVENTS_READ})
# Kinds that are not in X's price list: counted, and priced at nothing.
NOT_LISTED = frozenset(
    {
        "OAuth 1.0a token",
        "app bearer token",
        "OAuth 2.0 token",
        "webhook management",
        "subscription management",
        "media download",
        "X Chat key management",  # public keys registered and read, conversation keys
        "AAA delivery",
        "post refused",  # X prices the posts it creates
        "DM refused",
    }
)


def price(kind: str) -> Decimal | None:
    """The dollars one `kind` costs; None when X publishes no price for it. A kind this
    table does not know is an error, so that a new kind of call cannot go unpriced."""
    if kind in PRICES:
        return PRICES[kind]
    if kind in NOT_LISTED:
        return Decimal("0")
    if kind in UNPUBLISHED:
        return None
    raise KeyError(f"No price known for {kind!r}: add it to bench/x_prices.py.")


def cost(counts: Mapping[str, float]) -> Decimal:
    """The dollars of `counts` (calls or events by kind, whole or per message), leaving out
    the kinds whose price X does not publish (see `unpriced`)."""
    total = Decimal("0")
    for kind, count in counts.items():
        unit = price(kind)
        if unit is not None:
            total += unit * Decimal(str(count))
    return total


def unpriced(counts: Mapping[str, float]) -> list[str]:
    """The kinds in `counts` that happened and whose price X does not publish."""
    return sorted(kind for kind, count in counts.items() if count and price(kind) is None)
