"""The inbound processor's domain on the fakes: a customer's photos and videos. Their links
go in the case's description or the comment; the files are attached to the case where X
lets the account download them, once, whatever the retries."""

import pytest

from tests.fakes import Attachment
from tests.unit.test_inbound_support import (
    X_TOKENS,
    Clock,
    Crash,
    Desk,
    acknowledgement,
    crash_once,
    media_url,
)
from twittnow.clients.x import (
    DEFAULT_MAX_MEDIA_BYTES,
    UserCredentials,
    XConnectionBroken,
    XRequestRejected,
    XUnavailable,
)
from twittnow.models import Channel, MessageStatus

M = MessageStatus
PNG = b"\x89PNG\r\n\x1a\n"
CITY = "Which city do you live in?"


@pytest.fixture
def desk(monkeypatch) -> Desk:
    return Desk(Clock(monkeypatch))


def test_a_photo_is_linked_in_the_description_and_attached_to_the_case(desk):
    url = media_url("box.png")
    desk.x.add_media(url, PNG, "image/png")

    event = desk.dm("The box came broken", media=(url,))
    desk.handle(event)

    case = desk.only_case()
    assert case["description"] == f"The box came broken\nAttachment: {url}"
    assert desk.instance.files(case["sys_id"]) == [
        Attachment(case["sys_id"], "box.png", "image/png", PNG)
    ]
    [download] = desk.x.calls_to("download_media")
    assert download == {
        "user": UserCredentials(X_TOKENS["access_token"], X_TOKENS["access_token_secret"]),
        "url": url,
        "max_bytes": DEFAULT_MAX_MEDIA_BYTES,
    }
    message = desk.message_of(event)
    assert (message.media_urls, message.media_attached, message.handled) == ([url], [url], True)


def test_a_photo_on_the_open_case_is_linked_in_the_comment_and_attached(desk):
    desk.handle(desk.dm("Where is my parcel?"))
    url = media_url("lid.jpg")
    desk.x.add_media(url)

    desk.handle(desk.dm("And the lid", media=(url,)))

    assert desk.instance.comments("CS0000001") == [f"And the lid\nAttachment: {url}"]
    [attachment] = desk.instance.files("CS0000001")
    assert (attachment.file_name, attachment.content_type) == ("lid.jpg", "image/jpeg")


def test_a_photo_without_text_is_its_link_alone(desk):
    first, second = media_url("a.jpg"), media_url("b.jpg")
    desk.x.add_media(first)
    desk.x.add_media(second)

    desk.handle(desk.dm("", media=(first, second)))

    assert desk.only_case()["description"] == f"Attachment: {first}\nAttachment: {second}"
    assert [a.file_name for a in desk.instance.files("CS0000001")] == ["a.jpg", "b.jpg"]


def test_a_mentions_photo_is_attached_to_its_case(desk):
    url = media_url("post.jpg")
    desk.x.add_media(url)

    desk.handle(desk.mention("@acme_support look", media=[{"url": url, "media_type": "photo"}]))

    assert desk.only_case()["description"] == f"@acme_support look\nAttachment: {url}"
    assert len(desk.instance.files("CS0000001")) == 1
    assert desk.summary(Channel.MENTION)[0] == ("customer", M.CASE_CREATED, "CS0000001")


@pytest.mark.parametrize(
    ("url", "scripted"),
    [
        (media_url("gone.jpg"), None),  # X has no such file
        (media_url("huge.mp4"), None),  # larger than the client takes
        ("https://evil.example.com/photo.jpg", None),  # off X's media hosts
        (media_url("withheld.jpg"), XRequestRejected("X refused (400).", status_code=400)),
        (media_url("revoked.jpg"), XConnectionBroken("Unauthorized", status_code=401)),
    ],
    ids=["not_found", "too_large", "off_x", "rejected", "connection_broken"],
)
def test_a_file_x_will_not_serve_is_left_as_a_link_and_not_retried(desk, url, scripted):
    if url.endswith("huge.mp4"):
        desk.x.add_media(url, b"\0" * (DEFAULT_MAX_MEDIA_BYTES + 1), "video/mp4")
    if scripted is not None:
        desk.x.add_media(url)
        desk.x.fail(scripted, "download_media")
    event = desk.dm("See the file", media=(url,))

    desk.handle(event)

    case = desk.only_case()
    assert case["description"] == f"See the file\nAttachment: {url}"
    assert desk.instance.files(case["sys_id"]) == []
    message = desk.message_of(event)
    assert (message.status, message.media_attached, message.handled) == (
        M.CASE_CREATED,
        [url],  # done with: a retry would not fetch it again
        True,
    )
    assert desk.dms_sent() == [acknowledgement("CS0000001")]
    assert len(desk.x.calls_to("download_media")) == 1


def test_a_photo_x_fails_to_serve_for_now_is_attached_once_on_the_retry(desk):
    url = media_url("box.png")
    desk.x.add_media(url, PNG, "image/png")
    desk.x.fail(XUnavailable("X is over capacity (503).", status_code=503), "download_media")
    event = desk.dm("See the photo", media=(url,))

    with pytest.raises(XUnavailable):
        desk.handle(event)
    assert desk.message_of(event).media_attached == []
    desk.handle(event)
    desk.handle(event)

    assert len(desk.instance.files("CS0000001")) == 1
    assert desk.dms_sent() == [acknowledgement("CS0000001")]  # not acknowledged again
    assert desk.message_of(event).media_attached == [url]


def test_of_two_photos_the_one_attached_is_not_fetched_again_on_the_retry(desk):
    first, second = media_url("first.jpg"), media_url("second.jpg")
    desk.x.add_media(first)
    desk.x.add_media(second)
    event = desk.dm("Two photos", media=(first, second))

    with (
        crash_once(desk.x, "download_media", lambda user, url, **kwargs: url == second),
        pytest.raises(Crash),
    ):
        desk.handle(event)  # died downloading the second
    assert desk.message_of(event).media_attached == [first]
    desk.x.calls.clear()
    desk.handle(event)

    assert [call["url"] for call in desk.x.calls_to("download_media")] == [second]
    assert [a.file_name for a in desk.instance.files("CS0000001")] == ["first.jpg", "second.jpg"]
    assert desk.message_of(event).media_attached == [first, second]
    assert desk.dms_sent() == [acknowledgement("CS0000001")]


def test_a_photo_sent_before_the_questions_were_answered_is_linked_in_the_description(desk):
    desk.add_field("city", CITY)
    url = media_url("box.png")
    desk.x.add_media(url, PNG, "image/png")
    held = desk.dm("The box came broken", media=(url,))

    desk.handle(held)
    assert desk.x.calls_to("download_media") == []  # no case to attach it to yet
    assert (desk.message_of(held).media_attached, desk.message_of(held).handled) == ([], True)
    desk.handle(desk.dm("Paris"))

    assert desk.only_case()["description"] == (
        f"The box came broken\nAttachment: {url}\n\ncity: Paris"
    )


def test_a_photo_sent_before_the_questions_were_answered_is_attached_to_the_case(desk):
    desk.add_field("city", CITY)
    url = media_url("box.png")
    desk.x.add_media(url, PNG, "image/png")
    desk.handle(desk.dm("The box came broken", media=(url,)))

    desk.handle(desk.dm("Paris"))

    case = desk.only_case()
    assert case["description"] == f"The box came broken\nAttachment: {url}\n\ncity: Paris"
    assert len(desk.instance.files(case["sys_id"])) == 1
