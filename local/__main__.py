"""`python -m local` (make run): the local stack on PORT until Ctrl-C, SIGTERM or SIGHUP,
calling sandbox X and ServiceNow servers on loopback, or the real X with SANDBOX=0."""

import argparse
import logging
import select
import signal
import socket
from pathlib import Path

from local.stack import DEFAULT_STATE_FILE, LocalStack, Settings

logger = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class StopSignals:
    """From its creation, SIGINT, SIGTERM and SIGHUP do nothing but wake wait().

    A Python signal handler runs in the main thread between two bytecodes, wherever that
    thread is: inside `threading.Event.wait`, holding the Event's lock, a second signal's
    handler calling Event.set() blocks on that lock forever. So the handlers do nothing,
    and the interpreter's own C handler writes each signal's number to a socket (the
    wakeup fd) that wait() selects on: no lock, and no signal lost between a check and a
    wait.
    """

    def __init__(self) -> None:
        self._reader, self._writer = socket.socketpair()
        self._reader.setblocking(False)
        self._writer.setblocking(False)
        signal.set_wakeup_fd(self._writer.fileno(), warn_on_full_buffer=False)
        for signal_number in STOP_SIGNALS:
            signal.signal(signal_number, lambda *_: None)

    def wait(self) -> signal.Signals:
        """Returns the first signal received since creation, waiting for one if need be."""
        select.select([self._reader], [], [])
        return signal.Signals(self._reader.recv(1)[0])


def main(arguments: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m local", description=__doc__)
    parser.add_argument(
        "--state-file",
        type=Path,
        default=DEFAULT_STATE_FILE,
        help="where operator commands find the stack (mode 0600, removed on exit); "
        f"default {DEFAULT_STATE_FILE}",
    )
    options = parser.parse_args(arguments)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # botocore announces where it found credentials and endpoints on every new client.
    logging.getLogger("botocore").setLevel(logging.WARNING)
    # Before the start: a signal during it stops the stack once it is up, and removes
    # the state file.
    stop_signals = StopSignals()
    try:
        settings = Settings.from_environment()
    except ValueError as error:  # PORT, or SANDBOX=0 without the X app's credentials
        raise SystemExit(str(error)) from None
    with LocalStack(settings, state_file=options.state_file) as stack:
        print(stack.banner(), flush=True)
        received = stop_signals.wait()
        logger.info("%s received: stopping the local stack.", received.name)
    logger.info("Local stack stopped.")


if __name__ == "__main__":
    main()
