"""python -m ops permissions: for each function, what its IAM policies grant (as
`sam deploy` expands them) and which of those grants the test suite's calls used.

Record the calls first, with enforcement on (the default):

    TWITTNOW_IAM_USED_CALLS=.local/iam-used-calls.jsonl .venv/bin/python -m pytest -n 2 tests/api ...

A grant no call used is a candidate for removal from template.yaml, unless a code path the
tests do not reach needs it (the template then says so in a comment).
"""

import argparse
import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from local import iam
from local.template import DEFAULT_STACK_NAME, DEFAULT_TEMPLATE, Deployment, load_template

DEFAULT_USED_CALLS = DEFAULT_TEMPLATE.parent / ".local" / "iam-used-calls.jsonl"
# Whom SAM's own additions serve: their calls are not AWS API calls a function makes here.
SAM_ADDITIONS = {
    "AWSLambdaBasicExecutionRole": "Lambda's logs (locally: stdout)",
    "AWSXrayWriteOnlyAccess": "Tracing: Active (locally: the X-Ray daemon, over UDP)",
    "AWSLambdaSQSQueueExecutionRole": "the SQS event's poller (locally: local.queues)",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--used",
        type=Path,
        default=DEFAULT_USED_CALLS,
        help=f"the calls recorded with {iam.USED_CALLS_VARIABLE} (default {DEFAULT_USED_CALLS})",
    )


@dataclass
class FunctionUse:
    used: set[tuple[str, int, str, int]] = field(default_factory=set)  # Grant.key
    refused: set[tuple[str, str]] = field(default_factory=set)  # action, resource
    calls: int = 0


def read_used_calls(path: Path, template: Path = DEFAULT_TEMPLATE) -> dict[str, FunctionUse]:
    """What each function used, from the calls recorded under `template` (runs of other
    templates, such as the tests' altered copies, are left out)."""
    uses: dict[str, FunctionUse] = defaultdict(FunctionUse)
    wanted = str(template.resolve())
    for line in path.read_text(encoding="utf-8").splitlines():
        call = json.loads(line)
        if call["template"] != wanted:
            continue
        use = uses[call["function"]]
        use.calls += 1
        if call["allowed"]:
            use.used.update(
                (source, statement, action, position)
                for source, statement, action, position in call["grants"]
            )
        else:
            use.refused.add((call["action"], call["resource"]))
    return uses


def report(
    expanded: dict[str, iam.FunctionPolicies], uses: dict[str, FunctionUse], stack_name: str
) -> tuple[str, list[str], list[str]]:
    """The report, its findings (unused policies, narrower templates that would do), and
    the calls the policies refused."""

    def short(resource: str) -> str:
        if resource.startswith("arn:"):
            service, rest = resource.split(":")[2], resource.split(":", 5)[5]
            resource = f"{service} {rest}"
        return resource.replace(f"{stack_name}-", "").replace(f"{stack_name}/", "<stack>/")

    def bare(actions: list[str]) -> str:
        return " ".join(action.partition(":")[2] or action for action in actions)

    lines: list[str] = []
    findings: list[str] = []
    refused: list[str] = []
    for logical_id, policies in expanded.items():
        use = uses.get(logical_id, FunctionUse())
        lines.append(f"{logical_id}  ({use.calls} distinct calls recorded)")
        rows: dict[tuple[str, int, int], tuple[str, list[str], list[str]]] = {}
        for grant in policies.grants():
            _, used, unused = rows.setdefault(
                (grant.source, grant.statement, grant.position), (grant.resource, [], [])
            )
            (used if grant.key in use.used else unused).append(grant.action)
        for policy in policies.policies:
            name = policy.source.partition(" ")[0]
            if policy.index is None and name in SAM_ADDITIONS:
                lines.append(f"  {policy.source}: for {SAM_ADDITIONS[name]}")
                continue
            mine = [row for key, row in rows.items() if key[0] == policy.source]
            used_actions = {action for _, used, _ in mine for action in used}
            if not used_actions:
                findings.append(f"{logical_id} {policy.source}: not used")
                lines.append(f"  {policy.source}: NOT USED")
                continue
            narrower = _narrower_template(policy.source, used_actions)
            if narrower:
                findings.append(f"{logical_id} {policy.source}: {narrower} would do")
            lines.append(f"  {policy.source}" + (f"  ({narrower} would do)" if narrower else ""))
            for resource, used, unused in mine:
                shown = bare(used) if used else "not used"
                spare = f"  (not used: {bare(unused)})" if used and unused else ""
                lines.append(f"    {short(resource)}: {shown}{spare}")
                if unused and policy.source.endswith(" Statement"):
                    # Written by hand, action by action: each one should be needed.
                    findings.append(
                        f"{logical_id} {policy.source}: {bare(unused)} on {short(resource)} "
                        "not used"
                    )
        for action, resource in sorted(use.refused):
            refused.append(f"{logical_id}: {action} on {resource}")
            lines.append(f"  REFUSED: {action} on {short(resource)}")
        lines.append("")
    lines.append(
        "Findings (a policy or a hand-written action no recorded call used, or a narrower "
        "SAM template that would do):"
    )
    lines += [f"  {entry}" for entry in findings] or ["  none"]
    lines.append("Calls the policies refused:")
    lines += [f"  {entry}" for entry in refused] or ["  none"]
    return "\n".join(lines), findings, refused


def _narrower_template(source: str, used_actions: set[str]) -> str | None:
    """The smallest SAM policy template taking the same parameters as the one `source`
    names whose actions still cover `used_actions` (DynamoDBReadPolicy for a
    DynamoDBCrudPolicy only read through), if one grants less."""
    name = source.partition(" ")[2].partition("(")[0]
    templates = _policy_templates()
    if name not in templates:
        return None
    parameters, actions = templates[name]
    candidates = [
        (len(other_actions), other)
        for other, (other_parameters, other_actions) in templates.items()
        if other_parameters == parameters
        and used_actions <= other_actions
        and other_actions < actions
    ]
    return min(candidates)[1] if candidates else None


def _policy_templates() -> dict[str, tuple[frozenset[str], frozenset[str]]]:
    """SAM's policy templates: each one's parameter names and actions."""
    from samtranslator.policy_template_processor.processor import (  # type: ignore[import-untyped]
        PolicyTemplatesProcessor,
    )

    templates = PolicyTemplatesProcessor.get_default_policy_templates_json()["Templates"]
    return {
        name: (
            frozenset(template.get("Parameters", {})),
            frozenset(
                action
                for statement in template["Definition"]["Statement"]
                for action in iam_actions(statement)
            ),
        )
        for name, template in templates.items()
    }


def iam_actions(statement: dict) -> list[str]:
    actions = statement.get("Action", [])
    return actions if isinstance(actions, list) else [actions]


def run(arguments: argparse.Namespace) -> int:
    if not arguments.used.exists():
        print(
            f"No calls recorded at {arguments.used}: run the tests with "
            f"{iam.USED_CALLS_VARIABLE}={arguments.used} first.",
        )
        return 2
    deployment = Deployment(aws_endpoint_url="http://127.0.0.1", stack_name=DEFAULT_STACK_NAME)
    expanded = iam.expand_policies(load_template(deployment), deployment)
    text, _, refused = report(expanded, read_used_calls(arguments.used), DEFAULT_STACK_NAME)
    print(text)
    return 1 if refused else 0
