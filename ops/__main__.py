"""python -m ops <command>: operator commands (see README, "Operator commands")."""

import argparse
import getpass
import os
import sys
from pathlib import Path

from pydantic import ValidationError

from local.runtime import load_module
from ops.targets import LOCAL_STATE_FILE, TargetError, use_deployed_stack, use_local_stack

AUTH_CODE_DIR = LOCAL_STATE_FILE.parent.parent / "functions" / "auth"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    create_admin = commands.add_parser(
        "createadmin", help="create an admin user (the seed's createsuperuser)"
    )
    where = create_admin.add_mutually_exclusive_group(required=True)
    where.add_argument("--stack", help="a deployed stack's name, e.g. twittnow-dev")
    where.add_argument("--local", action="store_true", help="the running local stack")
    create_admin.add_argument("--username", required=True, help="the admin's email address")
    create_admin.add_argument(
        "--state-file", type=Path, default=LOCAL_STATE_FILE, help="the local stack's state file"
    )
    arguments = parser.parse_args(argv)

    try:
        if arguments.local:
            use_local_stack(arguments.state_file)
        else:
            use_deployed_stack(arguments.stack)
        return _create_admin(arguments.username)
    except TargetError as error:
        print(error, file=sys.stderr)
        return 2


def _create_admin(username: str) -> int:
    logic = load_module(AUTH_CODE_DIR, "logic")
    try:
        user = logic.create_admin(username, _new_password())
    except ValidationError as error:
        for problem in error.errors():
            print(f"{'.'.join(map(str, problem['loc']))}: {problem['msg']}", file=sys.stderr)
        return 2
    except logic.Conflict as error:  # the function folder's own copy of the layer's error
        print(error.message, file=sys.stderr)
        return 2
    print(f"Admin {user.username} created (id {user.id}). Log in with POST /auth/login/.")
    return 0


def _new_password() -> str:
    """From ADMIN_PASSWORD, or asked twice; never from the command line, where it would
    stay in the shell's history and show in the process list."""
    if password := os.environ.get("ADMIN_PASSWORD"):
        return password
    if not sys.stdin.isatty():
        raise TargetError("Set ADMIN_PASSWORD, or run this in a terminal to be asked for it.")
    password = getpass.getpass("Password for the new admin: ")
    if password != getpass.getpass("Same password again: "):
        raise TargetError("The two passwords differ; nothing was created.")
    return password


if __name__ == "__main__":
    sys.exit(main())
