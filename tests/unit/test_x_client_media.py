"""XClient.download_media: DM and post media fetched signed as the account, only from X's
media hosts (or the client's own base URL), streamed up to a size limit, and X's refusals
as the client's typed errors."""

import io
import traceback
from datetime import UTC, datetime

import pytest
import requests
import responses

from sandboxes.x import oauth1
from twittnow.clients.x import (
    DownloadedMedia,
    UserCredentials,
    XClient,
    XConnectionBroken,
    XError,
    XMediaRefused,
    XNotFound,
    XRateLimited,
    XUnavailable,
)
from twittnow.x_app import AppCredentials

APP = AppCredentials("consumer-key-123", "consumer-secret-XYZ")
USER = UserCredentials("1500-access-token-abc", "access-secret-DEF")
SANDBOX = "http://127.0.0.1:8000"
# As in x-api/direct-messages/media/introduction.mdx.
DM_PHOTO = (
    "https://ton.twitter.com/1.1/ton/data/dm/1034828552951160836/1034828533812486145/oP5p359h.jpg"
)
PHOTO = b"\xff\xd8\xff\xe0 a photo"


@pytest.fixture
def api():
    with responses.RequestsMock() as mock:
        yield mock


@pytest.fixture
def client():
    return XClient("https://api.x.com", APP, timeout=2.5)


def shown(error: XError) -> str:
    """Everything an error can put in a log: its text, detail, and any chained exception."""
    assert error.__cause__ is None and error.__context__ is None
    return "".join(traceback.format_exception_only(error)) + error.message + error.detail


class EndlessBody(io.RawIOBase):
    """A body that never ends, counting what is read of it."""

    def __init__(self) -> None:
        self.read_bytes = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        buffer[:] = b"v" * len(buffer)
        self.read_bytes += len(buffer)
        return len(buffer)


class BrokenBody(io.RawIOBase):
    """A body whose connection times out after its first bytes."""

    def __init__(self) -> None:
        self.sent = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self.sent:
            raise TimeoutError(f"timed out; {USER.access_token_secret}")
        self.sent = True
        buffer[:4] = b"head"
        return 4


# ---------------------------------------------------------------- downloads


def test_dm_media_are_downloaded_signed_as_the_account(api, client):
    api.get(DM_PHOTO, body=PHOTO, content_type="image/jpeg; charset=binary")

    media = client.download_media(USER, DM_PHOTO)

    assert media == DownloadedMedia("oP5p359h.jpg", "image/jpeg", PHOTO)
    request = api.calls[0].request
    authorization = request.headers["Authorization"]
    signed = oauth1.read_authorization(authorization)
    assert (signed.consumer_key, signed.token) == (APP.consumer_key, USER.access_token)
    assert abs(signed.timestamp - datetime.now(UTC).timestamp()) < 60
    assert oauth1.signature_valid(
        "GET", DM_PHOTO, authorization, b"", "", APP.consumer_secret, USER.access_token_secret
    )
    assert request.req_kwargs["timeout"] == (2.5, 2.5)
    assert request.req_kwargs["stream"] is True
    assert request.headers["Accept-Encoding"] == "identity"
    assert repr(PHOTO) not in repr(media)  # the bytes stay out of logs


@pytest.mark.parametrize(
    ("url", "content_type", "file_name"),
    [
        ("https://pbs.twimg.com/media/GbQ1.png", "image/png", "GbQ1.png"),
        ("https://pbs.twimg.com/media/GbQ2?format=jpg&name=large", "image/jpeg", "GbQ2.jpg"),
        (
            "https://video.twimg.com/ext_tw_video/1/pu/vid/720x1280/clip.mp4?tag=12",
            "video/mp4",
            "clip.mp4",
        ),
        ("https://video.twimg.com/tweet_video/", "video/mp4", "media.mp4"),
        ("https://abs.twimg.com/media/my%20photo%20(1).gif", "image/gif", "my_photo_1_.gif"),
        ("https://pbs.twimg.com/media/..%2F..%2Fetc%2Fpasswd", "image/png", "_.._etc_passwd"),
        ("https://pbs.twimg.com/media/...", "image/webp", "media.webp"),
        ("https://pbs.twimg.com/media/x", None, "x.bin"),
    ],
)
def test_post_media_get_a_safe_file_name_and_a_content_type(
    api, client, url, content_type, file_name
):
    api.get(url, body=b"bytes", content_type=content_type)

    media = client.download_media(USER, url)

    assert media.file_name == file_name
    assert media.content_type == (content_type or "application/octet-stream")
    assert media.data == b"bytes"


def test_media_on_the_client_own_base_url_are_downloaded(api):
    url = f"{SANDBOX}/1.1/ton/data/dm/1/2/photo.png"
    api.get(url, body=PHOTO, content_type="image/png")

    media = XClient(SANDBOX, APP).download_media(USER, url)

    assert (media.file_name, media.data) == ("photo.png", PHOTO)


# ---------------------------------------------------------------- refused before any request


@pytest.mark.parametrize(
    ("url", "named"),
    [
        ("http://ton.twitter.com/1.1/ton/data/dm/1/2/a.jpg", "ton.twitter.com"),
        ("https://evil.example/a.jpg", "evil.example"),
        ("https://twimg.com.evil.example/a.jpg", "twimg.com.evil.example"),
        ("https://twimg.com/a.jpg", "twimg.com"),
        ("file:///etc/passwd", "a URL without a host"),
        ("/1.1/ton/data/dm/1/2/a.jpg", "a URL without a host"),
        ("https://ton.twitter.com@evil.example/a.jpg", "evil.example"),
        ("https://ton.twitter.com:x@evil.example/a.jpg", "evil.example"),
        ("https://evil@pbs.twimg.com/a.jpg", "pbs.twimg.com"),
        ("https://evil.example\\.twimg.com/a.jpg", "evil.example\\.twimg.com"),
        ("https://pbs.twimg.com:8443/a.jpg", "pbs.twimg.com"),
        ("ftp://pbs.twimg.com/a.jpg", "pbs.twimg.com"),
        ("http://127.0.0.1:8001/1.1/ton/data/dm/1/2/a.jpg", "127.0.0.1"),
        ("https://127.0.0.1:8000/1.1/ton/data/dm/1/2/a.jpg", "127.0.0.1"),
        ("http://localhost:8000/1.1/ton/data/dm/1/2/a.jpg", "localhost"),
        ("https://[::1/a.jpg", "a URL without a host"),
    ],
)
def test_urls_off_x_media_hosts_are_refused_before_any_request(api, url, named):
    with pytest.raises(XMediaRefused) as failure:
        XClient(SANDBOX, APP).download_media(USER, url)

    assert len(api.calls) == 0
    assert not failure.value.retryable
    assert failure.value.message.startswith(f"Refused to download media from {named}:")


# ---------------------------------------------------------------- too large


def test_media_declared_larger_than_the_limit_are_refused(api, client):
    api.get(DM_PHOTO, body=b"x" * 1001, auto_calculate_content_length=True)

    with pytest.raises(XMediaRefused, match=r"larger than 0\.000954 MB") as failure:
        client.download_media(USER, DM_PHOTO, max_bytes=1000)

    assert not failure.value.retryable


def test_media_of_exactly_the_limit_are_downloaded(api, client):
    api.get(DM_PHOTO, body=b"x" * 1000, auto_calculate_content_length=True)

    assert len(client.download_media(USER, DM_PHOTO, max_bytes=1000).data) == 1000


def test_a_body_growing_past_the_limit_is_read_no_further(api, client):
    body = EndlessBody()
    api.get(DM_PHOTO, body=io.BufferedReader(body), content_type="video/mp4")

    with pytest.raises(XMediaRefused, match="larger than 1 MB"):
        client.download_media(USER, DM_PHOTO, max_bytes=2**20)

    assert 2**20 < body.read_bytes <= 2**20 + 2 * 64 * 1024


# ---------------------------------------------------------------- X's refusals and failures


@pytest.mark.parametrize(
    ("status", "error_class"),
    [
        (401, XConnectionBroken),
        (403, XConnectionBroken),
        (404, XNotFound),
        (500, XUnavailable),
        (503, XUnavailable),
    ],
)
def test_answers_of_x_become_typed_errors(api, client, status, error_class):
    api.get(DM_PHOTO, status=status, body=b"<html>nope</html>", content_type="text/html")

    with pytest.raises(error_class) as failure:
        client.download_media(USER, DM_PHOTO)

    error = failure.value
    assert type(error) is error_class and error.status_code == status
    assert "download media from ton.twitter.com" in error.message
    assert error.retryable is (status >= 500)


def test_a_redirect_is_not_followed(api, client):
    # Following it would carry the account's signature to wherever it points.
    api.get(DM_PHOTO, status=302, headers={"Location": "https://evil.example/a.jpg"})

    with pytest.raises(XUnavailable) as failure:
        client.download_media(USER, DM_PHOTO)

    assert failure.value.status_code == 302 and len(api.calls) == 1


def test_a_rate_limit_says_until_when(api, client):
    reset = int(datetime.now(UTC).timestamp()) + 900
    api.get(DM_PHOTO, status=429, headers={"x-rate-limit-reset": str(reset)})

    with pytest.raises(XRateLimited) as failure:
        client.download_media(USER, DM_PHOTO)

    assert failure.value.reset_at == datetime.fromtimestamp(reset, UTC)
    assert failure.value.retryable


@pytest.mark.parametrize(
    ("exception", "said"),
    [
        (requests.ReadTimeout, "X did not answer within 2.5 seconds"),
        (requests.ConnectionError, "Could not connect to X at https://ton.twitter.com"),
    ],
)
def test_timeouts_and_connection_failures_are_unavailable(api, client, exception, said):
    api.get(DM_PHOTO, body=exception(f"failed; secret {USER.access_token_secret}"))

    with pytest.raises(XUnavailable) as failure:
        client.download_media(USER, DM_PHOTO)

    error = failure.value
    assert error.retryable and error.status_code is None
    assert error.message.startswith(said) and "(download media" in error.message
    assert USER.access_token_secret not in shown(error)


def test_a_body_broken_off_is_unavailable(api, client):
    api.get(DM_PHOTO, body=io.BufferedReader(BrokenBody()), content_type="image/jpeg")

    with pytest.raises(XUnavailable, match="stopped sending the media") as failure:
        client.download_media(USER, DM_PHOTO)

    assert failure.value.retryable
    assert USER.access_token_secret not in shown(failure.value)


def test_no_secret_appears_in_errors(api, client):
    echoed = f"{APP.consumer_secret} {USER.access_token} {USER.access_token_secret}"
    api.get(DM_PHOTO, status=401, json={"errors": [{"code": 89, "message": f"bad {echoed}"}]})

    with pytest.raises(XConnectionBroken) as failure:
        client.download_media(USER, DM_PHOTO)

    text = shown(failure.value)
    for secret in (APP.consumer_secret, USER.access_token, USER.access_token_secret):
        assert secret not in text
    assert "***" in failure.value.message
