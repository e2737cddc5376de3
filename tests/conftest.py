"""The local stack, started once per test process, for the API and end-to-end tests."""

import os

# Tests run untraced, whatever the shell says (tests/unit/test_tracing.py traces on its
# own): twittnow.observability reads this when first imported, as the import below does.
os.environ["POWERTOOLS_TRACE_DISABLED"] = "true"

import pytest

from local.stack import LocalStack, Settings

ADMIN_USERNAME = "admin@example.com"
ADMIN_PASSWORD = "e2e-admin-password"


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory):
    """The stack on a free port, with a known admin: base_url, admin_username, admin_password."""
    yield from started_stack(tmp_path_factory)


def started_stack(tmp_path_factory):
    """A new stack, stopped when the generator ends.

    Its embedded AWS runs in a child process, out of reach of moto mocks other tests of
    this process start (they reset every in-process moto backend).
    """
    stack = LocalStack(
        # Scheduled functions run when a test asks (run_schedules), never in another's midst.
        Settings(
            port=0,
            admin_username=ADMIN_USERNAME,
            admin_password=ADMIN_PASSWORD,
            schedule_every=0,
        ),
        state_file=tmp_path_factory.mktemp("local-stack") / "stack.json",
        isolated_aws=True,
    )
    stack.start()
    # The stack's variables (AWS endpoint, table names...) are set only while a test that
    # uses the stack runs, so that the other tests of this process never reach it.
    stack.environment.restore()
    yield stack
    stack.stop()


@pytest.fixture
def stack_environment(local_stack):
    """The stack's variables set, and what its functions keep (settings, clients,
    repositories) the test's own: the layer called directly reaches the stack."""
    local_stack.environment.apply()
    with local_stack.runtime.kept():
        yield local_stack
    local_stack.environment.restore()
