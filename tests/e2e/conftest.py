import uuid

import pytest

from tests.api.client import ApiClient
from tests.api.desks import Desk, close_desk, open_desk


@pytest.fixture(autouse=True)
def _local_stack_environment(stack_environment):
    yield


@pytest.fixture
def desk(local_stack) -> Desk:
    """A new tenant with the sandbox ServiceNow and a sandbox X account, over HTTP."""
    api = ApiClient(local_stack, over_http=True)
    api.admin_token = api.login(local_stack.admin_username, local_stack.admin_password)
    desk = open_desk(api)
    yield desk
    close_desk(desk)


@pytest.fixture
def customer() -> str:
    return f"jane_{uuid.uuid4().hex[:8]}"
