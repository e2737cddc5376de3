import pytest


@pytest.fixture(autouse=True)
def _local_stack_environment(stack_environment):
    yield
