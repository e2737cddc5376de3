"""python -m ops <command>: operator commands (see README, "Operator commands")."""

import argparse
import getpass
import os
import sys
from pathlib import Path

from pydantic import ValidationError

from auth import logic
from conversations import conversations
from ops import dead_letters, openapi, permissions, replay, subscriptions
from ops.targets import LOCAL_STATE_FILE, TargetError, use_deployed_stack, use_local_stack
from twittnow import recovery, repositories, x_app
from twittnow.clients.x import XClient, XError
from twittnow.errors import Conflict, InvalidInput
from twittnow.wiring import ports

REPO_ROOT = LOCAL_STATE_FILE.parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    create_admin = _command(
        commands, "createadmin", "create an admin user (the seed's createsuperuser)"
    )
    create_admin.add_argument("--username", required=True, help="the admin's email address")

    webhooks = _command(commands, "webhooks", "manage the X webhook that delivers account activity")
    webhooks.add_argument(
        "action", choices=["register", "list", "validate", "delete", "resubscribe"]
    )
    webhooks.add_argument(
        "--url", help="register: the webhook URL, e.g. https://<api>/twitter-activity"
    )
    webhooks.add_argument(
        "--id", dest="webhook_id", help="validate, delete: the webhook's id (see list)"
    )

    _command(
        commands,
        "rekey-claims",
        "once, after deploying NFKC + casefold uniqueness: move username and custom field "
        "name claims to their new keys",
    )

    _command(
        commands,
        "recount-failures",
        "once, after deploying per-conversation failure counts: count the failures from "
        "before them",
    )

    dead_letter_command = _command(commands, "dead-letters", "list and redrive dead-letter queues")
    dead_letters.add_arguments(dead_letter_command)

    replay_command = _command(
        commands, "replay", "have X deliver again a window of the webhook's last 24 hours"
    )
    replay.add_arguments(replay_command)

    documents = commands.add_parser("openapi", help="write docs/openapi.json from the code")
    documents.add_argument(
        "--output", type=Path, default=openapi.DOCUMENT, help="where to write it"
    )
    permission_report = commands.add_parser(
        "permissions",
        help="what each function's IAM policies grant, and what the tests' calls used",
    )
    permissions.add_arguments(permission_report)
    arguments = parser.parse_args(argv)
    if arguments.command == "openapi":  # reads the code only: no stack to choose
        print(f"Wrote {openapi.write(arguments.output)}.")
        return 0
    if arguments.command == "permissions":  # the template and a test run's record
        return permissions.run(arguments)
    if arguments.command == "replay":  # checked before any stack is touched
        try:
            window = replay.window_of(arguments)
        except recovery.InvalidWindow as error:
            print(error, file=sys.stderr)
            return 2

    try:
        if arguments.local:
            use_local_stack(arguments.state_file)
        else:
            use_deployed_stack(arguments.stack)
        if arguments.command == "createadmin":
            return _create_admin(arguments.username)
        if arguments.command == "replay":
            return replay.run(ports(), arguments, window)
        if arguments.command == "dead-letters":
            return dead_letters.run(arguments)
        if arguments.command == "rekey-claims":
            return _rekey_claims()
        if arguments.command == "recount-failures":
            return _recount_failures()
        if arguments.action == "resubscribe":
            return _resubscribe()
        return _webhooks(arguments.action, arguments.url, arguments.webhook_id)
    except TargetError as error:
        print(error, file=sys.stderr)
        return 2


def _command(commands, name: str, help_text: str) -> argparse.ArgumentParser:
    """A subcommand, with the choice of stack every command takes."""
    command = commands.add_parser(name, help=help_text)
    where = command.add_mutually_exclusive_group(required=True)
    where.add_argument("--stack", help="a deployed stack's name, e.g. twittnow-dev")
    where.add_argument("--local", action="store_true", help="the running local stack")
    command.add_argument(
        "--state-file", type=Path, default=LOCAL_STATE_FILE, help="the local stack's state file"
    )
    return command


def _webhooks(action: str, url: str | None, webhook_id: str | None) -> int:
    """The X webhook, with the app's credentials: registering it makes X send a CRC
    challenge to the URL, which the deployed (or local) stack answers."""
    client = XClient(os.environ["X_API_BASE_URL"], x_app.app_credentials())
    if action in ("register", "validate", "delete") and not (
        url if action == "register" else webhook_id
    ):
        raise TargetError(f"webhooks {action} needs {'--url' if action == 'register' else '--id'}.")
    try:
        if action == "register":
            webhook = client.register_webhook(url)
            print(f"Registered webhook {webhook.id} for {webhook.url} (valid: {webhook.valid}).")
        elif action == "list":
            for webhook in client.list_webhooks():
                print(
                    f"{webhook.id}  {webhook.url}  valid={webhook.valid}  created={webhook.created_at}"
                )
        elif action == "validate":
            client.validate_webhook(webhook_id)
            print(f"X re-sent the CRC challenge to webhook {webhook_id}; it answered correctly.")
        else:
            client.delete_webhook(webhook_id)
            print(f"Deleted webhook {webhook_id}.")
    except XError as error:
        print(f"X refused: {error.message}", file=sys.stderr)
        return 1
    return 0


def _resubscribe() -> int:
    """Once after deploying a version that subscribes accounts to more X event types."""
    refused = subscriptions.resubscribe_all(ports())
    for line in refused:
        print(f"X refused {line}", file=sys.stderr)
    if refused:
        return 1
    print("Every X Activity API connection is subscribed to the event types it needs.")
    return 0


def _create_admin(username: str) -> int:
    try:
        user = logic.create_admin(ports(), username, _new_password())
    except ValidationError as error:
        for problem in error.errors():
            print(f"{'.'.join(map(str, problem['loc']))}: {problem['msg']}", file=sys.stderr)
        return 2
    except (Conflict, InvalidInput) as error:  # a taken username, a weak password
        print(error.message, file=sys.stderr)
        return 2
    print(f"Admin {user.username} created (id {user.id}). Log in with POST /auth/login/.")
    return 0


def _rekey_claims() -> int:
    """Usernames and custom field names were unique in lowercase; they are unique in
    twittnow.names.matching_key form now. Claims whose key changed (non-ASCII names such
    as `straße`, fullwidth letters) move; look-alikes stored before (`straße` and
    `STRASSE`) are listed, for an admin or the tenant to rename one. Safe to run again."""
    outcomes: dict[str, int] = {}
    for user in repositories.users().list_all():
        outcome = repositories.users().rekey_claim(user)
        outcomes[f"username {outcome}"] = outcomes.get(f"username {outcome}", 0) + 1
        if outcome in ("taken", "unclaimed"):
            print(
                f"Username {user.username} (user {user.id}): {outcome}; rename the user.",
                file=sys.stderr,
            )
        for field in repositories.custom_fields().of_tenant(user.id):
            outcome = repositories.custom_fields().rekey_claim(field)
            outcomes[f"field name {outcome}"] = outcomes.get(f"field name {outcome}", 0) + 1
            if outcome in ("taken", "unclaimed"):
                print(
                    f"Custom field {field.field_name!r} (field {field.id} of user {user.id}): "
                    f"{outcome}; rename the field.",
                    file=sys.stderr,
                )
    print(", ".join(f"{count} {what}" for what, count in sorted(outcomes.items())) or "No users.")
    return 1 if any(what.endswith(("taken", "unclaimed")) for what in outcomes) else 0


def _recount_failures() -> int:
    """Conversations whose messages failed before failures were counted read 0, and the
    console's failed filter misses them. Safe to run again, and while the stack runs."""
    done = conversations.recount_failed_messages(ports())
    for conversation_id in done.unsettled:
        print(
            f"Conversation {conversation_id}: its messages kept changing; run this again.",
            file=sys.stderr,
        )
    print(f"{done.conversations} conversations read; failure counts corrected: {done.corrected}.")
    return 1 if done.unsettled else 0


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
