"""`python -m local` (make run): the local stack on PORT until Ctrl-C or SIGTERM, calling
sandbox X and ServiceNow servers on loopback, or the real X with SANDBOX=0."""

import argparse
import logging
import signal
import threading
from pathlib import Path

from local.stack import DEFAULT_STATE_FILE, LocalStack, Settings


def main(arguments: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m local", description=__doc__)
    parser.add_argument(
        "--state-file",
        type=Path,
        default=DEFAULT_STATE_FILE,
        help=f"where operator commands find the stack; default {DEFAULT_STATE_FILE}",
    )
    options = parser.parse_args(arguments)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # botocore announces where it found credentials and endpoints on every new client.
    logging.getLogger("botocore").setLevel(logging.WARNING)
    stopping = threading.Event()
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signal_number, lambda *_: stopping.set())
    try:
        settings = Settings.from_environment()
    except ValueError as error:  # PORT, or SANDBOX=0 without the X app's credentials
        raise SystemExit(str(error)) from None
    with LocalStack(settings, state_file=options.state_file) as stack:
        print(stack.banner(), flush=True)
        stopping.wait()
    logging.getLogger(__name__).info("Local stack stopped.")


if __name__ == "__main__":
    main()
