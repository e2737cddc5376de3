"""What every sandbox shares: serving its answers on loopback, in background threads,
from start() to stop()."""

import logging
import threading
from typing import TYPE_CHECKING, Self

if TYPE_CHECKING:  # at run time each sandbox brings its server class
    from sandboxes.x.web import Call, Response, Server

logger = logging.getLogger(__name__)


class LoopbackSandbox:
    """Serves `_answer` on host:port (port 0: a free one). Subclasses give their name and
    their server class (a sandboxes.x.web.Server)."""

    name = "sandbox"
    server_class: type["Server"]

    def __init__(self, host: str, port: int):
        self._address = (host, port)
        self._server: Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError(f"The {self.name} is not running.")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> Self:
        self._server = self.server_class(self._address, self._answer)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            args=(0.05,),  # a short poll: stop() waits for the server's loop to see it
            name=self.name.lower().replace(" ", "-"),
            daemon=True,
        )
        self._thread.start()
        logger.info("%s up: %s", self.name, self.base_url)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join()
            self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def _answer(self, call: "Call") -> "Response":
        raise NotImplementedError  # each sandbox answers its own API
