"""twittnow.instance: what an instance builds once, per scope."""

import threading

from twittnow import instance
from twittnow.instance import forget, kept, scope

builds: list[str] = []


@kept
def client(name: str) -> dict:
    builds.append(name)
    return {"name": name}


@kept
def other() -> object:
    return object()


def test_a_kept_value_is_built_once_per_arguments_and_scope():
    builds.clear()
    stack = {}

    with scope(stack):
        first = client("dynamodb")
        assert client("dynamodb") is first
        assert client("sqs") is not first
    with scope({}):
        assert client("dynamodb") is not first
    with scope(stack):
        assert client("dynamodb") is first

    assert builds == ["dynamodb", "sqs", "dynamodb"]


def test_forget_drops_one_builds_values_or_all_of_them():
    with scope({}):
        kept_client, kept_other = client("dynamodb"), other()

        forget(client)
        assert client("dynamodb") is not kept_client
        assert other() is kept_other

        forget()
        assert other() is not kept_other


def test_outside_any_scope_the_process_keeps_its_own():
    with scope({}):
        in_scope = other()
    try:
        assert other() is not in_scope
        assert other() is other()
    finally:
        instance.forget(other)


def test_a_scope_is_the_current_threads_only():
    seen = []
    with scope({}):
        in_scope = other()
        thread = threading.Thread(target=lambda: seen.append(other()))
        thread.start()
        thread.join()
    try:
        assert seen[0] is not in_scope
    finally:
        instance.forget(other)
