"""Least privilege, enforced locally: each function's AWS calls are checked against the IAM
policies `sam deploy` would give its role, before they are sent.

The policies come from aws-sam-translator, the library `sam deploy` turns the template
into CloudFormation with: policy templates, inline statements, and what SAM adds on its
own (logs, X-Ray for `Tracing: Active`, the SQS poller's rights for an SQS event). Their
intrinsic functions are resolved to the local stack's ARNs (local.template), and moto's
policy evaluator (moto.iam.access_control) judges each call. moto's own enforcement
cannot serve: it checks DynamoDB and Secrets Manager calls against resource "*" only.
Its evaluator matches actions as written (case-sensitively) and evaluates no Condition
keys: the template's statements need neither.

A botocore hook on every client of the process computes a call's IAM action(s) and
resource(s) (every item of a transaction or batch) and checks them while a function runs
(`acting_as`, set by local.runtime around each invocation); calls made outside an
invocation (the stack's own, its queue pollers' standing in for Lambda's, the tests'
fixtures) are no function's and are not checked.

TWITTNOW_IAM_USED_CALLS=<file> records each distinct call a function made, with the
grants that allowed it, for `python -m ops permissions`.
"""

import hashlib
import json
import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore.exceptions import ClientError
from botocore.handlers import BUILTIN_HANDLERS

from local.template import Deployment, Template, TemplateError, read_template, resolver

ENFORCEMENT_VARIABLE = "TWITTNOW_IAM_ENFORCEMENT"
USED_CALLS_VARIABLE = "TWITTNOW_IAM_USED_CALLS"
# IAM's service prefixes, where they differ from the API's signing name.
_IAM_PREFIXES = {"monitoring": "cloudwatch"}
# Batch calls are authorized as the action they batch (SQS's API reference).
_SQS_BATCHES = {
    "SendMessageBatch": "SendMessage",
    "DeleteMessageBatch": "DeleteMessage",
    "ChangeMessageVisibilityBatch": "ChangeMessageVisibility",
}
# A transaction is authorized item by item, each as the single-item action
# (DynamoDB developer guide, "Using IAM with DynamoDB transactions").
_TRANSACTION_ACTIONS = {
    "Get": "GetItem",
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}
# Allowed to anyone, whatever the policies say (STS API reference).
_ALWAYS_ALLOWED = {"sts:GetCallerIdentity"}
# Secrets Manager appends 6 random characters to a secret's name in its ARN; a secret
# named (not yet created, or not known here) is checked with them unknown.
_UNKNOWN_SECRET_SUFFIX = "-??????"


def enforcement_on(environ: Mapping[str, str] = os.environ) -> bool:
    value = environ.get(ENFORCEMENT_VARIABLE) or "1"
    if value not in ("0", "1"):
        raise ValueError(
            f"{ENFORCEMENT_VARIABLE} must be 1 (each function runs under its own IAM "
            f"policies) or 0 (not enforced), not {value!r}."
        )
    return value == "1"


# ---------------------------------------------------------------- policies


@dataclass(frozen=True)
class Grant:
    """One action pattern on one resource pattern of one statement: the unit the
    permissions report says is used or not."""

    source: str  # Policy.source
    statement: int  # index in the policy's Statement
    effect: str
    action: str
    resource: str
    position: int  # the resource's index in the statement's Resource

    @property
    def key(self) -> tuple[str, int, str, int]:
        """What names the grant whatever ARNs the stack has: the report matches the calls
        a test run recorded to its own expansion of the template with it."""
        return self.source, self.statement, self.action, self.position


@dataclass(frozen=True)
class Policy:
    """One policy document of a function's role, resolved to local ARNs."""

    source: str  # "Policies[2] DynamoDBCrudPolicy", or the managed policy SAM added
    index: int | None  # position in the function's Policies; None for what SAM adds
    document: dict


@dataclass
class FunctionPolicies:
    """What a function's role may do, and the judge of each call it makes."""

    logical_id: str
    role: str  # the role's name, in the session ARN AWS's refusals name
    policies: tuple[Policy, ...]
    account_id: str
    region: str
    template: str  # the template file the policies came from, for the recorder
    secret_arns: Mapping[str, str] = field(default_factory=dict)  # name -> ARN
    _decisions: dict[tuple[str, str], tuple[bool, tuple[Grant, ...]]] = field(
        default_factory=dict, repr=False
    )
    _statements: list[tuple[Grant, Any]] | None = field(default=None, repr=False)

    def grants(self) -> list[Grant]:
        return [grant for grant, _ in self._compiled()]

    def decide(self, action: str, resource: str) -> tuple[bool, tuple[Grant, ...]]:
        """Whether the role may do `action` on `resource`, and the grants that allow it."""
        key = (action, resource)
        if key not in self._decisions:
            self._decisions[key] = self._evaluate(action, resource)
        return self._decisions[key]

    def _evaluate(self, action: str, resource: str) -> tuple[bool, tuple[Grant, ...]]:
        if action in _ALWAYS_ALLOWED:
            return True, ()
        from moto.iam.access_control import PermissionResult

        allowing = []
        for grant, statement in self._compiled():
            result = statement.is_action_permitted(action, resource)
            # moto answers DENIED for an Allow whose Condition it cannot match, too: only
            # a Deny statement denies.
            if result == PermissionResult.DENIED and grant.effect == "Deny":
                return False, ()  # an explicit Deny wins over every Allow
            if result == PermissionResult.PERMITTED:
                allowing.append(grant)
        return bool(allowing), tuple(allowing)

    def _compiled(self) -> list[tuple[Grant, Any]]:
        """Each statement split into one statement per action and resource, so that the
        evaluator also says which grants a call used."""
        if self._statements is None:
            from moto.iam.access_control import IAMPolicyStatement

            compiled = []
            for policy in self.policies:
                statements = policy.document.get("Statement", [])
                if isinstance(statements, dict):
                    statements = [statements]
                for statement_index, statement in enumerate(statements):
                    if "NotAction" in statement or "NotResource" in statement:
                        compiled.append(
                            (
                                Grant(
                                    policy.source,
                                    statement_index,
                                    statement["Effect"],
                                    json.dumps(statement.get("Action", statement.get("NotAction"))),
                                    json.dumps(statement.get("Resource", "*")),
                                    0,
                                ),
                                IAMPolicyStatement(statement),
                            )
                        )
                        continue
                    for action in _as_list(statement["Action"]):
                        resources = _as_list(statement.get("Resource", "*"))
                        for position, resource in enumerate(resources):
                            single = dict(statement, Action=action, Resource=resource)
                            grant = Grant(
                                policy.source,
                                statement_index,
                                statement["Effect"],
                                action,
                                resource,
                                position,
                            )
                            compiled.append((grant, IAMPolicyStatement(single)))
            self._statements = compiled
        return self._statements

    def session_arn(self, function_name: str) -> str:
        return f"arn:aws:sts::{self.account_id}:assumed-role/{self.role}/{function_name}"


# ---------------------------------------------------------------- expansion


def expand_policies(template: Template, deployment: Deployment) -> dict[str, FunctionPolicies]:
    """Each function's role policies, by logical id, as `sam deploy` would make them, with
    the ARNs `deployment` gives the template's resources."""
    translated, labels = _translated(template.path, deployment.region, template.parameters)
    resolve = resolver(translated, deployment, template.parameters)
    secret_arns = {secret.name: secret.arn for secret in template.secrets}
    resources = translated["Resources"]
    expanded = {}
    for function in template.functions:
        role_arn = resources[function.logical_id]["Properties"].get("Role")
        role = _role_of(role_arn, resources)
        if role is None:
            raise TemplateError(
                f"{function.logical_id}: its Role is not one SAM makes from its Policies, "
                "so the local stack cannot know what it may do."
            )
        role_id, properties = role
        sources = labels.get(function.logical_id, [])
        policies = []
        for inline in properties.get("Policies", []):
            position = inline["PolicyName"].removeprefix(f"{role_id}Policy")
            index = int(position) if position.isdigit() else None
            source = sources[index] if index is not None and index < len(sources) else None
            policies.append(
                Policy(
                    f"Policies[{index}] {source}" if source else inline["PolicyName"],
                    index,
                    resolve(inline["PolicyDocument"]),
                )
            )
        for arn in resolve(properties.get("ManagedPolicyArns", [])):
            name = str(arn).rpartition("/")[2]
            index = sources.index(name) if name in sources else None
            source = f"Policies[{index}] {name}" if index is not None else f"{name} (added by SAM)"
            policies.append(Policy(source, index, _managed_policy(name)))
        expanded[function.logical_id] = FunctionPolicies(
            logical_id=function.logical_id,
            role=deployment.physical_name(role_id),
            policies=tuple(policies),
            account_id=deployment.account_id,
            region=deployment.region,
            template=str(template.path.resolve()),
            secret_arns=secret_arns,
        )
    return expanded


def _role_of(role_arn: Any, resources: Mapping[str, Any]) -> tuple[str, dict] | None:
    if isinstance(role_arn, dict) and "Fn::GetAtt" in role_arn:
        role_id, attribute = role_arn["Fn::GetAtt"]
        role = resources.get(role_id) or {}
        if attribute == "Arn" and role.get("Type") == "AWS::IAM::Role":
            return role_id, role.get("Properties") or {}
    return None


_translations: dict[str, tuple[dict, dict[str, list[str]]]] = {}
_translating = threading.Lock()


def _translated(
    path: Path, region: str, parameters: Mapping[str, Any]
) -> tuple[dict, dict[str, list[str]]]:
    """SAM's translation of the template (kept: it takes about a second with its import),
    and what each function's Policies entries are, by position."""
    key = json.dumps([str(path), _digest(path), region, parameters], default=str)
    with _translating:
        if key not in _translations:
            _translations[key] = sam_translate(path, region, parameters)
        return _translations[key]


def sam_translate(
    path: Path, region: str, parameters: Mapping[str, Any]
) -> tuple[dict, dict[str, list[str]]]:
    """The template as `sam deploy` turns it into CloudFormation, and what each function's
    Policies entries are, by position."""
    # Only the local stack and the tests load the translator; no function does.
    # (untyped: no stubs, no py.typed)
    from samtranslator.internal.managed_policies import (  # type: ignore[import-untyped]
        get_bundled_managed_policy_map,
    )
    from samtranslator.parser.parser import Parser  # type: ignore[import-untyped]
    from samtranslator.translator.translator import Translator  # type: ignore[import-untyped]

    raw = read_template(path)
    resources = raw.get("Resources") or {}
    labels = {
        logical_id: [
            _label(entry) for entry in (resource.get("Properties") or {}).get("Policies") or []
        ]
        for logical_id, resource in resources.items()
        if resource.get("Type") == "AWS::Serverless::Function"
    }
    # SAM wants code in S3, where `sam deploy` uploads it first; no policy depends on it.
    containers = [(raw.get("Globals") or {}).get("Function") or {}]
    containers += [resource.get("Properties") or {} for resource in resources.values()]
    for properties in containers:
        for key in ("CodeUri", "ContentUri"):
            if isinstance(properties.get(key), str):
                properties[key] = "s3://twittnow-local/code.zip"
    session = boto3.session.Session(
        region_name=region, aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    translated = Translator(None, Parser(), boto_session=session).translate(
        raw,
        parameter_values=dict(parameters),
        get_managed_policy_map=lambda: get_bundled_managed_policy_map("aws"),
    )
    return translated, labels


def _label(entry: Any) -> str:
    """A Policies entry in a few words: DynamoDBCrudPolicy(UsersTable), Statement, ..."""
    if isinstance(entry, str):
        return entry
    if isinstance(entry, dict) and len(entry) == 1:
        ((name, arguments),) = entry.items()
        if name == "Statement":
            return "Statement"
        if isinstance(arguments, dict):
            shown = ", ".join(_shown(value) for value in arguments.values())
            return f"{name}({shown})"
        return name
    return "Statement"


def _shown(value: Any) -> str:
    if isinstance(value, dict) and len(value) == 1:
        ((key, argument),) = value.items()
        if key == "Ref":
            return str(argument)
        if key == "Fn::GetAtt":
            return ".".join(argument) if isinstance(argument, list) else str(argument)
    return json.dumps(value)


_managed: dict[str, Any] = {}


def _managed_policy(name: str) -> dict:
    """An AWS managed policy's document, from moto's copy of them."""
    if not _managed:
        from moto.iam.aws_managed_policies import aws_managed_policies_data

        _managed.update(json.loads(aws_managed_policies_data))
    if name not in _managed:
        raise TemplateError(f"The AWS managed policy {name} is not known locally.")
    return _managed[name]["Document"]


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---------------------------------------------------------------- what a call asks


def requested(
    service: str, operation: str, params: Mapping[str, Any], region: str, account_id: str
) -> list[tuple[str, str]]:
    """The (IAM action, resource ARN) pairs AWS authorizes an API call by.

    `service` is the API's signing name (dynamodb, sqs, secretsmanager, monitoring...).
    """
    prefix = _IAM_PREFIXES.get(service, service)
    arn = f"arn:aws:{prefix}:{region}:{account_id}"
    if prefix == "dynamodb":
        return _dynamodb(operation, params, arn)
    if prefix == "sqs":
        return _sqs(operation, params, arn)
    if prefix == "secretsmanager":
        return _secretsmanager(operation, params, arn)
    # CloudWatch's PutMetricData and the other calls on no resource: "*".
    return [(f"{prefix}:{operation}", "*")]


def _table_arn(arn: str, table: str, index: str | None = None) -> str:
    resource = table if table.startswith("arn:") else f"{arn}:table/{table}"
    return f"{resource}/index/{index}" if index else resource


def _dynamodb(operation: str, params: Mapping[str, Any], arn: str) -> list[tuple[str, str]]:
    if operation in ("TransactWriteItems", "TransactGetItems"):
        pairs = []
        for item in params.get("TransactItems", []):
            for kind, request in item.items():
                action = f"dynamodb:{_TRANSACTION_ACTIONS[kind]}"
                pairs.append((action, _table_arn(arn, request["TableName"])))
        return pairs
    if operation in ("BatchWriteItem", "BatchGetItem"):
        return [
            (f"dynamodb:{operation}", _table_arn(arn, table))
            for table in params.get("RequestItems", {})
        ]
    if "TableName" in params:
        return [
            (
                f"dynamodb:{operation}",
                _table_arn(arn, params["TableName"], params.get("IndexName")),
            )
        ]
    return [(f"dynamodb:{operation}", "*")]  # ListTables and the like


def _sqs(operation: str, params: Mapping[str, Any], arn: str) -> list[tuple[str, str]]:
    action = f"sqs:{_SQS_BATCHES.get(operation, operation)}"
    if "QueueUrl" in params:
        # https://sqs.<region>.amazonaws.com/<account>/<name>, or the embedded AWS's
        account_id, name = urlsplit(params["QueueUrl"]).path.strip("/").split("/")[-2:]
        region = arn.split(":")[3]
        return [(action, f"arn:aws:sqs:{region}:{account_id}:{name}")]
    if "QueueName" in params:  # CreateQueue, GetQueueUrl
        return [(action, f"{arn}:{params['QueueName']}")]
    return [(action, "*")]  # ListQueues


def _secretsmanager(operation: str, params: Mapping[str, Any], arn: str) -> list[tuple[str, str]]:
    action = f"secretsmanager:{operation}"
    if operation == "CreateSecret":
        resource = f"{arn}:secret:{params['Name']}{_UNKNOWN_SECRET_SUFFIX}"
        # Tags given at creation need TagResource too (Secrets Manager's CreateSecret).
        tagging = [("secretsmanager:TagResource", resource)] if params.get("Tags") else []
        return [(action, resource), *tagging]
    if "SecretId" in params:
        return [(action, params["SecretId"])]  # an ARN or a name: see _secret_arn
    return [(action, "*")]  # GetRandomPassword, ListSecrets


# ---------------------------------------------------------------- enforcement


@dataclass(frozen=True)
class _Principal:
    """A function running: whose calls are checked and recorded."""

    function_name: str
    policies: FunctionPolicies


_acting: ContextVar[_Principal | None] = ContextVar("twittnow_iam_principal", default=None)


@contextmanager
def acting_as(function_name: str, policies: FunctionPolicies | None) -> Iterator[None]:
    """Runs the block as the function (its AWS calls checked against `policies`);
    `policies` None runs it unchecked."""
    token = _acting.set(None if policies is None else _Principal(function_name, policies))
    try:
        yield
    finally:
        _acting.reset(token)


def _authorize(params: Mapping[str, Any], model: Any, **_: Any) -> None:
    """botocore's before-parameter-build hook: raises AWS's access error for a call the
    running function's policies do not allow, before it is sent."""
    principal = _acting.get()
    if principal is None:
        return
    policies = principal.policies
    service = model.service_model.signing_name
    for action, resource in requested(
        service, model.name, params, policies.region, policies.account_id
    ):
        if service == "secretsmanager" and not resource.startswith("arn:") and resource != "*":
            resource = policies.secret_arns.get(resource) or (
                f"arn:aws:secretsmanager:{policies.region}:{policies.account_id}:secret:"
                f"{resource}{_UNKNOWN_SECRET_SUFFIX}"
            )
        allowed, grants = policies.decide(action, resource)
        _recorder.record(policies, action, resource, allowed, grants)
        if not allowed:
            raise _access_denied(principal, service, model.name, action, resource)


def _access_denied(
    principal: _Principal, service: str, operation: str, action: str, resource: str
) -> ClientError:
    # The code and wording AWS answers with: AccessDenied for the query-era APIs (SQS,
    # CloudWatch), AccessDeniedException for the JSON ones (DynamoDB, Secrets Manager).
    code = "AccessDenied" if service in ("sqs", "monitoring") else "AccessDeniedException"
    message = (
        f"User: {principal.policies.session_arn(principal.function_name)} is not authorized "
        f"to perform: {action} on resource: {resource} because no identity-based policy "
        f"allows the {action} action"
    )
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


class _Recorder:
    """Appends each distinct call of a function to the file USED_CALLS_VARIABLE names, one
    JSON line each (appends of a line are atomic: test workers share the file)."""

    def __init__(self) -> None:
        self._seen: set[tuple[str, str, str, str]] = set()
        self._lock = threading.Lock()

    def record(
        self,
        policies: FunctionPolicies,
        action: str,
        resource: str,
        allowed: bool,
        grants: tuple[Grant, ...],
    ) -> None:
        path = os.environ.get(USED_CALLS_VARIABLE)
        if not path:
            return
        key = (policies.template, policies.logical_id, action, resource)
        with self._lock:
            if key in self._seen:
                return
            self._seen.add(key)
        line = {
            "template": policies.template,
            "function": policies.logical_id,
            "action": action,
            "resource": resource,
            "allowed": allowed,
            "grants": [list(grant.key) for grant in grants],
        }
        with open(path, "a", encoding="utf-8") as file:
            file.write(json.dumps(line) + "\n")


_recorder = _Recorder()


def install() -> None:
    """Puts the hook on every botocore client made from now on in this process. Idempotent."""
    hook = ("before-parameter-build", _authorize)
    if hook in BUILTIN_HANDLERS:
        return
    # Every new botocore session registers the built-in handlers (moto's mocks reach
    # every client the same way); boto3's default session may be older.
    BUILTIN_HANDLERS.append(hook)
    if boto3.DEFAULT_SESSION is not None:
        boto3.DEFAULT_SESSION.events.register(*hook)
