"""`python -m ops replay --from ... --to ...`: asks X to deliver again, to the webhook,
what it delivered or tried to deliver in a window of the last 24 hours (twittnow.recovery:
the scheduled recovery asks for the gaps it sees; this is for those it cannot, say after
a failed deploy that ended between two of its runs). Replayed events carry their original
ids: what the service had already is not handled twice."""

import argparse
import sys

from twittnow import clock, recovery
from twittnow.clients.x import XError
from twittnow.ports import Ports


def add_arguments(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--from",
        dest="from_time",
        required=True,
        help="the window's first minute, UTC: yyyymmddhhmm (202612071405) or ISO 8601",
    )
    command.add_argument(
        "--to",
        dest="to_time",
        required=True,
        help="the window's last minute, UTC, included; not in the future",
    )
    command.add_argument(
        "--id",
        dest="webhook_id",
        help="the webhook's id (python -m ops webhooks list); by default the webhook of the "
        "connected accounts",
    )


def window_of(arguments: argparse.Namespace) -> recovery.Window:
    """The window asked for; InvalidWindow says what is wrong with it."""
    return recovery.checked_window(
        recovery.parse_time(arguments.from_time),
        recovery.parse_time(arguments.to_time),
        clock.now(),
    )


def run(ports: Ports, arguments: argparse.Namespace, window: recovery.Window) -> int:
    webhook_ids = [arguments.webhook_id] if arguments.webhook_id else _webhook_ids(ports)
    if not webhook_ids:
        print(
            "No connected account names a webhook: pass --id (python -m ops webhooks list).",
            file=sys.stderr,
        )
        return 2
    for webhook_id in webhook_ids:
        try:
            request = recovery.request_replay(
                ports, webhook_id, window, by="operator", reason="asked by an operator"
            )
        except XError as error:
            print(f"X refused the replay of webhook {webhook_id}: {error.message}", file=sys.stderr)
            return 1
        print(
            f"X replays to webhook {webhook_id} what it delivered from "
            f"{clock.isoformat(window.start)} to {clock.isoformat(window.end)} (UTC, both "
            f"minutes included): job {request.job_id}."
        )
    return 0


def _webhook_ids(ports: Ports) -> list[str]:
    return sorted(
        {connection.webhook_id for connection in ports.credentials.all_x() if connection.webhook_id}
    )
