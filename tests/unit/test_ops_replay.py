"""`python -m ops replay`: a window X would refuse is refused with a clear message before any
stack is touched (exit 2); a good one is asked of X for the connected accounts' webhook,
and recorded; X's refusal exits 1."""

import argparse

import pytest

from ops import replay
from ops.__main__ import main
from tests.fakes import FakeX, fake_ports
from tests.fakes.clock import NOW, Clock
from tests.unit.test_recovery_logic import ports_with_account
from twittnow.clients.x import XRequestRejected


@pytest.mark.parametrize(
    ("start", "end", "says"),
    [
        ("202503011130", "202503011100", "must start before it ends"),
        ("202503011100", "202503011205", "ends in the future"),
        ("202502271100", "202503011100", "only the last 24 hours"),
        ("last tuesday", "202503011100", "is not a time"),
    ],
)
def test_a_bad_window_is_refused_before_any_stack_is_chosen(
    time: Clock, capsys, tmp_path, start, end, says
):
    missing_state = tmp_path / "no-stack.json"

    code = main(
        ["replay", "--local", "--state-file", str(missing_state), "--from", start, "--to", end]
    )

    assert code == 2
    assert says in capsys.readouterr().err


def arguments(webhook_id: str | None = None) -> argparse.Namespace:
    return argparse.Namespace(
        from_time="202503011100", to_time="202503011130", webhook_id=webhook_id
    )


def test_a_window_is_replayed_to_the_connected_accounts_webhook(time: Clock, capsys):
    ports = ports_with_account()
    window = replay.window_of(arguments())

    assert replay.run(ports, arguments(), window) == 0

    x = ports.x()
    assert isinstance(x, FakeX)
    assert x.replays == [(x.webhooks[0].id, "202503011100", "202503011130")]
    (recorded,) = ports.recovery.replays_since(NOW)
    assert recorded.requested_by == "operator"
    assert f"job {recorded.job_id}" in capsys.readouterr().out


def test_x_refusing_the_replay_exits_1_and_no_webhook_exits_2(time: Clock, capsys):
    ports = ports_with_account()
    window = replay.window_of(arguments())
    ports.x().fail(XRequestRejected("ReplayConflictError"), "replay_webhook")  # type: ignore[attr-defined]

    assert replay.run(ports, arguments(), window) == 1
    assert "X refused the replay" in capsys.readouterr().err
    assert ports.recovery.replays_since(NOW) == []

    assert replay.run(fake_ports(), arguments(), window) == 2
    assert "pass --id" in capsys.readouterr().err
