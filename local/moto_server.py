"""moto's threaded server, with DynamoDB requests serialized; also the entry point of the
isolated embedded AWS's child process."""

import logging
import sys
import threading

from moto.moto_server.threaded_moto_server import MotoRequestHandler
from moto.server import DomainDispatcherApplication, ThreadedMotoServer, create_backend_app
from werkzeug.serving import make_server


class _SerializedDynamoDB:
    """WSGI middleware that lets one DynamoDB request through at a time. moto checks a
    transaction's conditions and applies its writes without a lock, so two concurrent
    transactions claiming one value could both succeed; real DynamoDB serializes them.
    Other services (SQS long polls above all) keep running concurrently."""

    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        if not environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
            return self.app(environ, start_response)
        with self.lock:
            return list(self.app(environ, start_response))  # the whole answer, under the lock


class MotoServer(ThreadedMotoServer):
    """ThreadedMotoServer with its app wrapped in _SerializedDynamoDB."""

    def _server_entry(self) -> None:
        app = _SerializedDynamoDB(DomainDispatcherApplication(create_backend_app))
        self._server = make_server(
            self._ip_address, self._port, app, True, request_handler=MotoRequestHandler
        )
        self._server_ready_event.set()
        self._server.serve_forever()


def serve_until_stdin_closes() -> None:
    """The child process: says its port on stdout, serves until its stdin closes (when
    the parent stops it or goes away)."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = MotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    print(server.get_host_and_port()[1], flush=True)
    sys.stdin.read()
    server.stop()
