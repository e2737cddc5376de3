"""Loading handlers as Lambda does: one copy of its folder and of the layer per function."""

import sys
import textwrap
import uuid

import pytest

import twittnow.settings
from local.runtime import LambdaContext, Runtime, load_module
from local.template import Function


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
def two_folders(tmp_path):
    """Two function folders that both have app.py and logic.py, like functions/*/."""
    folders = []
    for name in ("auth", "servicenow"):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "logic.py").write_text(f"FOLDER = {name!r}\n")
        (folder / "app.py").write_text(
            textwrap.dedent(
                """
                import logic
                import twittnow.settings

                def lambda_handler(event, context):
                    return {"folder": logic.FOLDER, "settings": twittnow.settings}
                """
            )
        )
        folders.append(folder)
    return folders


def test_each_folder_gets_its_own_logic_module(two_folders):
    auth, servicenow = (make_function(folder) for folder in two_folders)
    runtime = Runtime()

    auth_handler = runtime.load_handler(auth)
    servicenow_handler = runtime.load_handler(servicenow)

    assert auth_handler({}, None)["folder"] == "auth"
    assert servicenow_handler({}, None)["folder"] == "servicenow"
    assert "logic" not in sys.modules and "app" not in sys.modules


def test_each_function_gets_its_own_layer_and_the_caller_keeps_its_own(two_folders):
    auth, servicenow = (make_function(folder) for folder in two_folders)
    runtime = Runtime()

    auth_settings = runtime.load_handler(auth)({}, None)["settings"]
    servicenow_settings = runtime.load_handler(servicenow)({}, None)["settings"]

    # The layer caches settings read once: sharing a copy would share the cache.
    assert auth_settings is not servicenow_settings
    assert twittnow.settings not in (auth_settings, servicenow_settings)
    assert sys.modules["twittnow.settings"] is twittnow.settings


def test_a_module_the_caller_imported_under_the_same_name_comes_back(two_folders, monkeypatch):
    callers_logic = type(sys)("logic")
    monkeypatch.setitem(sys.modules, "logic", callers_logic)

    Runtime().load_handler(make_function(two_folders[0]))

    assert sys.modules["logic"] is callers_logic


def test_handlers_are_loaded_once_per_function_and_stack(two_folders):
    function = make_function(two_folders[0])
    runtime, other_stacks_runtime = Runtime(), Runtime()

    assert runtime.load_handler(function) is runtime.load_handler(function)
    # Another stack's handler has its own layer copy, with that stack's cached settings.
    assert other_stacks_runtime.load_handler(function) is not runtime.load_handler(function)


def test_load_module_gives_a_folders_module(two_folders):
    logic = load_module(two_folders[1], "logic")

    assert logic.FOLDER == "servicenow"
    assert "logic" not in sys.modules


def test_invoke_passes_a_lambda_context(tmp_path):
    (tmp_path / "app.py").write_text(
        "def lambda_handler(event, context):\n    return event, context\n"
    )
    function = make_function(tmp_path, timeout=3)

    event, context = Runtime().invoke(function, {"ping": 1})

    assert event == {"ping": 1}
    assert isinstance(context, LambdaContext)
    assert context.function_name == function.name
    assert context.invoked_function_arn == function.arn
    assert context.memory_limit_in_mb == 512
    assert context.log_group_name == f"/aws/lambda/{function.name}"
    assert context.function_version == "$LATEST"
    assert 2000 < context.get_remaining_time_in_millis() <= 3000


def test_every_invocation_has_its_own_request_id(tmp_path):
    (tmp_path / "app.py").write_text("def lambda_handler(event, context):\n    return context\n")
    function = make_function(tmp_path)
    runtime = Runtime()

    assert (
        runtime.invoke(function, {}).aws_request_id != runtime.invoke(function, {}).aws_request_id
    )
