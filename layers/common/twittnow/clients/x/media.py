"""Media of DMs and posts, downloaded from X's media hosts only, and never more than a
size limit."""

import mimetypes
import re
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from twittnow.clients.x.errors import XMediaRefused, XUnavailable, scrub
from twittnow.clients.x.models import AccountCredentials, DownloadedMedia
from twittnow.clients.x.transport import XTransport, user_secrets

if TYPE_CHECKING:
    import requests

# Where X serves the media of DMs (ton) and posts (pbs, video): the only hosts, with the
# client's own base URL (a sandbox), that a media URL from a delivery may name.
X_MEDIA_HOSTS = ("ton.twitter.com", "pbs.twimg.com", "video.twimg.com")
X_MEDIA_DOMAIN = ".twimg.com"
DEFAULT_MAX_MEDIA_BYTES = 25 * 1024 * 1024
MEDIA_CHUNK_BYTES = 64 * 1024
# host[:port], nothing else: no user info, and no character (such as a backslash) that
# another URL parser could read as the end of the host.
HOST_LABEL = r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?"
PLAIN_NETLOC = re.compile(rf"(?P<host>{HOST_LABEL}(?:\.{HOST_LABEL})*)(?::(?P<port>\d{{1,5}}))?")
SAFE_FILE_NAME_RUN = re.compile(r"[^A-Za-z0-9._-]+")
MAX_FILE_NAME_LENGTH = 128


class MediaCalls(XTransport):
    def download_media(
        self, user: AccountCredentials, url: str, max_bytes: int = DEFAULT_MAX_MEDIA_BYTES
    ) -> DownloadedMedia:
        """The photo, video or GIF at `url` (a Media url of a delivery), fetched as `user`:
        DM media need the account's signature, and signing a public URL does no harm.

        An OAuth 1.0a connection signs as it always has. An OAuth 2.0 connection sends its
        bearer token: X's docs say the TON URLs of DM media take an OAuth 1.0a signature
        and that the newer /2/dm_conversations/media/... takes OAuth 2.0 user tokens, but
        not whether a TON URL takes a bearer token (the sandbox X takes OAuth 1.0a only).
        If X refuses it, the media is not attached and its link stays in the comment.

        Refuses (XMediaRefused), before sending anything, a URL that is neither https on
        X's media hosts nor on this client's own base URL; and stops reading a file once
        it grows past `max_bytes`."""
        host = self._media_host(url)
        action = f"download media from {host}"
        secrets = user_secrets(user)
        response = self._send_to(
            "GET",
            url,
            action,
            route=f"media on {host}",  # a media URL holds the DM's and the media's ids
            auth=self._user_auth(user),
            as_user=True,
            secrets=secrets,
            # Uncompressed: a small compressed chunk could unpack to far more than max_bytes.
            headers={"Accept": "*/*", "Accept-Encoding": "identity"},
            stream=True,
        )
        with response:  # gives the connection back however the reading ends
            data = self._media_body(response, action, max_bytes, secrets)
        content_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
        content_type = content_type or "application/octet-stream"
        return DownloadedMedia(_media_file_name(url, content_type), content_type, data)

    def _media_host(self, url: str) -> str:
        """The host of a media URL this client may download: https on X's media hosts, or
        the scheme, host and port of its own base URL. XMediaRefused for any other."""
        try:
            parts = urlsplit(url)
        except ValueError:  # such as an unclosed [ of an IPv6 address
            parts = urlsplit("")
        netloc = PLAIN_NETLOC.fullmatch(parts.netloc.lower())
        own = urlsplit(self.base_url)
        if netloc is not None:
            host = netloc["host"]
            on_x = (
                parts.scheme == "https"
                and netloc["port"] in (None, "443")
                and (host in X_MEDIA_HOSTS or host.endswith(X_MEDIA_DOMAIN))
            )
            if on_x or (parts.scheme, parts.netloc.lower()) == (own.scheme, own.netloc.lower()):
                return host
        raise XMediaRefused(
            f"Refused to download media from {parts.hostname or 'a URL without a host'}: "
            f"X's media are on https://{', https://'.join(X_MEDIA_HOSTS)} and "
            f"*{X_MEDIA_DOMAIN}."
        )

    def _media_body(
        self, response: "requests.Response", action: str, max_bytes: int, secrets: tuple[str, ...]
    ) -> bytes:
        """The streamed body, read up to `max_bytes`; `secrets` as for _send_to."""
        import requests  # loaded by __init__ already

        too_large = XMediaRefused(
            f"The media is larger than {max_bytes / 2**20:.3g} MB ({action})."
        )
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > max_bytes:
            raise too_large
        body, broken_off = bytearray(), None
        try:
            for chunk in response.iter_content(MEDIA_CHUNK_BYTES):
                body += chunk
                if len(body) > max_bytes:
                    raise too_large
        except requests.RequestException as exc:
            broken_off = str(exc)
        if broken_off is not None:
            # Raised here, not in the except clause, for the reason _send_to gives.
            raise XUnavailable(
                f"X stopped sending the media ({action}).",
                status_code=response.status_code,
                detail=scrub(broken_off, (self._app.consumer_secret, *secrets)),
            )
        return bytes(body)


def _media_file_name(url: str, content_type: str) -> str:
    """The URL's last path segment, in safe characters only, with an extension: the
    content type's when the segment has none, after "media" when nothing is left of it."""
    segment = unquote(urlsplit(url).path.rpartition("/")[2])
    name = SAFE_FILE_NAME_RUN.sub("_", segment)[-MAX_FILE_NAME_LENGTH:].lstrip(".")
    if "." not in name:
        name = (name or "media") + (mimetypes.guess_extension(content_type) or "")
    return name
