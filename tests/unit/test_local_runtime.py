"""Loading handlers as Lambda does, with plain imports from the code root; what a
function keeps between invocations, kept per stack."""

import sys
import textwrap
import uuid

import pytest

from local.runtime import LambdaContext, Runtime
from local.template import Function
from twittnow import instance


def make_function(code_dir, handler="app.lambda_handler", timeout=3) -> Function:
    logical_id = f"Fn{uuid.uuid4().hex[:8]}"
    return Function(
        logical_id=logical_id,
        name=f"unit-{logical_id}",
        arn=f"arn:aws:lambda:us-east-1:123456789012:function:unit-{logical_id}",
        code_uri=code_dir,
        handler=handler,
        timeout=timeout,
        memory_size=512,
        environment={},
        api_routes=(),
        queue_triggers=(),
    )


@pytest.fixture
def code_root(tmp_path, monkeypatch):
    """A code root with one area package whose handler answers what its stack keeps."""
    area = f"area_{uuid.uuid4().hex[:8]}"  # a fresh module name per test
    (tmp_path / area).mkdir()
    (tmp_path / area / "__init__.py").write_text("")
    (tmp_path / area / "app.py").write_text(
        textwrap.dedent(
            """
            import itertools

            from twittnow.instance import kept

            @kept
            def counter():
                return itertools.count(1)

            def lambda_handler(event, context):
                return next(counter())
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path, f"{area}.app.lambda_handler"


def test_a_handler_is_a_plain_import_from_its_code_root(code_root):
    root, handler = code_root
    function = make_function(root, handler)

    loaded = Runtime().load_handler(function)

    assert loaded.__module__ == handler.rpartition(".")[0]
    assert Runtime().load_handler(function) is loaded  # one module, as in one process


def test_what_a_function_keeps_is_kept_per_stack(code_root):
    root, handler = code_root
    function = make_function(root, handler)
    stack, other_stack = Runtime(), Runtime()

    assert [stack.invoke(function, {}) for _ in range(3)] == [1, 2, 3]
    # Another stack's functions build their own, as another Lambda instance would...
    assert other_stack.invoke(function, {}) == 1
    assert stack.invoke(function, {}) == 4
    # ...and outside any stack the process keeps its own.
    loaded = stack.load_handler(function)
    assert loaded({}, None) == 1
    instance.forget(sys.modules[loaded.__module__].counter)


def test_each_function_keeps_its_own_and_calls_in_a_stacks_scope_theirs(code_root):
    """As Lambda instances of different functions would: so that a secret one function
    read is not in another's cache, which then reads it under its own policies."""
    root, handler = code_root
    function, other_function = make_function(root, handler), make_function(root, handler)
    stack = Runtime()
    loaded = stack.load_handler(function)

    with stack.kept():
        assert [loaded({}, None), loaded({}, None)] == [1, 2]
    assert [stack.invoke(function, {}), stack.invoke(function, {})] == [1, 2]
    assert stack.invoke(other_function, {}) == 1


def test_invoke_passes_a_lambda_context(tmp_path, monkeypatch):
    (tmp_path / "context_app.py").write_text(
        "def lambda_handler(event, context):\n    return event, context\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    function = make_function(tmp_path, "context_app.lambda_handler", timeout=3)

    event, context = Runtime().invoke(function, {"ping": 1})

    assert event == {"ping": 1}
    assert isinstance(context, LambdaContext)
    assert context.function_name == function.name
    assert context.invoked_function_arn == function.arn
    assert context.memory_limit_in_mb == 512
    assert context.log_group_name == f"/aws/lambda/{function.name}"
    assert context.function_version == "$LATEST"
    assert 2000 < context.get_remaining_time_in_millis() <= 3000


def test_every_invocation_has_its_own_request_id(tmp_path, monkeypatch):
    (tmp_path / "request_id_app.py").write_text(
        "def lambda_handler(event, context):\n    return context\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    function = make_function(tmp_path, "request_id_app.lambda_handler")
    runtime = Runtime()

    assert (
        runtime.invoke(function, {}).aws_request_id != runtime.invoke(function, {}).aws_request_id
    )
