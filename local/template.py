"""template.yaml -> the resources and functions the local stack runs.

The template is the single source of truth: this module reads it the way CloudFormation
and SAM would (short tags, parameters, conditions, Globals), and resolves intrinsic
functions to the names and values the resources have locally.
"""

import base64
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TEMPLATE = REPO_ROOT / "template.yaml"
DEFAULT_STACK_NAME = "twittnow-local"
# The account moto answers for; ARNs carry it.
LOCAL_ACCOUNT_ID = "123456789012"
# The REST API id the local gateway reports, in !Ref of the API and in requestContext.apiId.
LOCAL_API_ID = "local"


class ResourceType(StrEnum):
    TABLE = "AWS::DynamoDB::Table"
    QUEUE = "AWS::SQS::Queue"
    SECRET = "AWS::SecretsManager::Secret"
    FUNCTION = "AWS::Serverless::Function"
    LAMBDA_FUNCTION = "AWS::Lambda::Function"
    API = "AWS::Serverless::Api"
    LAYER = "AWS::Serverless::LayerVersion"


# SAM's defaults for what neither the function nor Globals say.
DEFAULT_TIMEOUT = 3
DEFAULT_MEMORY_SIZE = 128
DEFAULT_SQS_BATCH_SIZE = 10
DEFAULT_VISIBILITY_TIMEOUT = 30


class TemplateError(ValueError):
    """The template asks for something the local stack cannot give."""


# ---------------------------------------------------------------- YAML with short tags


class _CloudFormationLoader(yaml.SafeLoader):
    """Reads `!Ref X` as {"Ref": "X"} and `!Sub ...` as {"Fn::Sub": ...}: the long forms."""


def _construct_tag(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        assert isinstance(node, yaml.MappingNode)  # yaml's third and last kind of node
        value = loader.construct_mapping(node, deep=True)
    if tag_suffix == "Ref":
        return {"Ref": value}
    if tag_suffix == "Condition":
        return {"Condition": value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        logical_id, _, attribute = value.partition(".")
        value = [logical_id, attribute]
    return {f"Fn::{tag_suffix}": value}


_CloudFormationLoader.add_multi_constructor("!", _construct_tag)


def read_template(path: Path) -> dict:
    """The template as plain data, short tags turned into their long forms."""
    with open(path, encoding="utf-8") as stream:
        return yaml.load(stream, Loader=_CloudFormationLoader)  # a SafeLoader


# ---------------------------------------------------------------- what comes out


@dataclass(frozen=True)
class Deployment:
    """Where the template is deployed locally: what names, ARNs and URLs resolve to."""

    aws_endpoint_url: str
    stack_name: str = DEFAULT_STACK_NAME
    region: str = "us-east-1"
    account_id: str = LOCAL_ACCOUNT_ID
    # A secret's ARN ends with a suffix Secrets Manager picks at creation, so !Ref of a
    # secret can only give the real ARN once it exists; until then, its partial ARN
    # (which Secrets Manager accepts too).
    secret_arns: Mapping[str, str] = field(default_factory=dict)

    def physical_name(self, logical_id: str) -> str:
        return f"{self.stack_name}-{logical_id}"

    def arn(self, service: str, resource: str) -> str:
        return f"arn:aws:{service}:{self.region}:{self.account_id}:{resource}"


@dataclass(frozen=True)
class Table:
    logical_id: str
    name: str
    arn: str
    key_schema: list[dict]
    attribute_definitions: list[dict]
    global_secondary_indexes: list[dict]
    local_secondary_indexes: list[dict]
    ttl_attribute: str | None


@dataclass(frozen=True)
class Queue:
    logical_id: str
    name: str
    url: str
    arn: str
    fifo: bool
    content_based_deduplication: bool
    visibility_timeout: int
    message_retention_period: int | None
    dead_letter_queue: str | None  # logical id of the redrive target
    max_receive_count: int | None
    # CreateQueue's Attributes, as SQS wants them (strings; RedrivePolicy as JSON).
    attributes: dict[str, str]


@dataclass(frozen=True)
class Secret:
    logical_id: str
    name: str
    arn: str
    description: str | None
    secret_string: str | None
    # GenerateSecretString as in the template: the secret is generated at creation.
    generate: dict | None


@dataclass(frozen=True)
class ApiRoute:
    method: str  # upper case; ANY matches every method
    path: str  # as in the template: /auth/users/{user_id}


@dataclass(frozen=True)
class QueueTrigger:
    queue: str  # logical id
    batch_size: int
    report_batch_item_failures: bool


@dataclass(frozen=True)
class Function:
    logical_id: str
    name: str
    arn: str
    code_uri: Path
    handler: str
    timeout: int
    memory_size: int
    environment: dict[str, str]
    api_routes: tuple[ApiRoute, ...]
    queue_triggers: tuple[QueueTrigger, ...]
    # Its Schedule events' rates, in seconds (EventBridge rules: rate(5 minutes)).
    schedules: tuple[int, ...] = ()

    @property
    def handler_module(self) -> str:
        return self.handler.rpartition(".")[0]

    @property
    def handler_function(self) -> str:
        return self.handler.rpartition(".")[2]


@dataclass(frozen=True)
class Template:
    path: Path
    parameters: dict[str, Any]
    api_stage: str  # the REST API's stage, in requestContext.stage
    tables: tuple[Table, ...]
    queues: tuple[Queue, ...]
    secrets: tuple[Secret, ...]
    functions: tuple[Function, ...]

    def queue(self, logical_id: str) -> Queue:
        return {queue.logical_id: queue for queue in self.queues}[logical_id]

    def function(self, logical_id: str) -> Function:
        return {function.logical_id: function for function in self.functions}[logical_id]

    def physical_names(self) -> dict[str, str]:
        """Logical id -> physical name of every table, queue, secret and function."""
        resources: tuple[Table | Queue | Secret | Function, ...] = (
            *self.tables,
            *self.queues,
            *self.secrets,
            *self.functions,
        )
        return {resource.logical_id: resource.name for resource in resources}


def load_template(
    deployment: Deployment,
    path: Path = DEFAULT_TEMPLATE,
    parameters: Mapping[str, Any] | None = None,
) -> Template:
    """Reads and resolves the template; `parameters` override the Parameters' defaults."""
    raw = read_template(path)
    resolver = _Resolver(raw, deployment, _parameter_values(raw, parameters or {}))

    def of_type(kind: ResourceType) -> list[tuple[str, dict]]:
        return [
            (logical_id, properties)
            for logical_id, properties in resolver.resources.items()
            if _type(raw, logical_id) == kind
        ]

    queues = tuple(_queue(resolver, *resource) for resource in of_type(ResourceType.QUEUE))
    apis = of_type(ResourceType.API)
    return Template(
        path=path,
        parameters=resolver.parameters,
        # SAM's implicit API, when the template declares none, has the stage Prod.
        api_stage=str(resolver.resolve(apis[0][1]["StageName"])) if apis else "Prod",
        tables=tuple(_table(resolver, *resource) for resource in of_type(ResourceType.TABLE)),
        queues=queues,
        secrets=tuple(_secret(resolver, *resource) for resource in of_type(ResourceType.SECRET)),
        functions=tuple(
            _function(resolver, *resource, path.parent, queues)
            for resource in of_type(ResourceType.FUNCTION)
        ),
    )


# ---------------------------------------------------------------- parameters


def _parameter_values(raw: dict, overrides: Mapping[str, Any]) -> dict[str, Any]:
    unknown = set(overrides) - set(raw.get("Parameters") or {})
    if unknown:
        raise TemplateError(f"Unknown template parameters: {', '.join(sorted(unknown))}")
    values = {}
    for name, spec in (raw.get("Parameters") or {}).items():
        if name in overrides:
            value = overrides[name]
        elif "Default" in spec:
            value = spec["Default"]
        else:
            raise TemplateError(f"Parameter {name} has no default; pass a value for it.")
        allowed = spec.get("AllowedValues")
        if allowed is not None and value not in allowed:
            raise TemplateError(f"Parameter {name}={value!r} is not one of {allowed}.")
        if spec.get("Type") == "CommaDelimitedList" and isinstance(value, str):
            value = [item.strip() for item in value.split(",")]
        values[name] = value
    return values


# ---------------------------------------------------------------- intrinsic functions


_NO_VALUE = object()  # what !Ref AWS::NoValue resolves to: the property goes away


def _type(raw: dict, logical_id: str) -> str:
    return raw["Resources"][logical_id]["Type"]


def resolver(
    raw: dict, deployment: Deployment, parameters: Mapping[str, Any]
) -> Callable[[Any], Any]:
    """Resolves expressions of `raw` (a template as read, or as SAM translated it: the IAM
    policies, local.iam) to their local values; `parameters` as Template.parameters."""
    return _Resolver(raw, deployment, dict(parameters)).resolve


class _Resolver:
    def __init__(self, raw: dict, deployment: Deployment, parameters: dict[str, Any]):
        self.raw = raw
        self.deployment = deployment
        self.parameters = parameters
        self.conditions: dict[str, bool] = {}
        self.resources = {
            logical_id: resource.get("Properties") or {}
            for logical_id, resource in raw.get("Resources", {}).items()
            if "Condition" not in resource or self.condition(resource["Condition"])
        }

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [item for item in map(self.resolve, value) if item is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, argument),) = value.items()
            if key == "Ref":
                return self.ref(argument)
            if key == "Condition":
                return self.condition(argument)
            if key.startswith("Fn::"):
                return self._function(key[len("Fn::") :], argument)
        resolved = {key: self.resolve(item) for key, item in value.items()}
        return {key: item for key, item in resolved.items() if item is not _NO_VALUE}

    def resolve_some(self, properties: dict, names: Iterable[str]) -> dict:
        """The named properties, resolved. Only what the local stack uses is resolved:
        the rest (policies, encryption keys, ...) may name what has no local value."""
        return {name: self.resolve(properties[name]) for name in names if name in properties}

    def _function(self, name: str, argument: Any) -> Any:
        match name:
            case "GetAtt":
                logical_id, attribute = self.resolve(argument)
                return self.get_att(logical_id, attribute)
            case "Sub":
                return self._sub(argument)
            case "Join":
                delimiter, items = self.resolve(argument)
                return delimiter.join(str(item) for item in items)
            case "Select":
                index, items = self.resolve(argument)
                return items[int(index)]
            case "Split":
                delimiter, text = self.resolve(argument)
                return text.split(delimiter)
            case "If":
                condition, if_true, if_false = argument
                return self.resolve(if_true if self.condition(condition) else if_false)
            case "Equals":
                left, right = self.resolve(argument)
                return str(left) == str(right)
            case "Not":
                (operand,) = argument
                return not self._truth(operand)
            case "And":
                return all(self._truth(operand) for operand in argument)
            case "Or":
                return any(self._truth(operand) for operand in argument)
            case "FindInMap":
                map_name, top_key, second_key = self.resolve(argument)
                return self.raw["Mappings"][map_name][top_key][second_key]
            case "Base64":
                return base64.b64encode(str(self.resolve(argument)).encode()).decode()
            case "GetAZs":
                return [f"{self.deployment.region}{zone}" for zone in "abc"]
        raise TemplateError(f"Fn::{name} cannot be resolved locally.")

    def _truth(self, operand: Any) -> bool:
        return bool(self.resolve(operand))

    def condition(self, name: str) -> bool:
        if name not in self.conditions:
            self.conditions[name] = bool(self.resolve(self.raw["Conditions"][name]))
        return self.conditions[name]

    def _sub(self, argument: Any) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else argument
        variables = {name: self.resolve(value) for name, value in variables.items()}

        def substitute(expression: str) -> str:
            if expression.startswith("!"):  # ${!Literal} stands for the text ${Literal}
                return "${" + expression[1:] + "}"
            if expression in variables:
                return str(variables[expression])
            if "." in expression and not expression.startswith("AWS::"):
                logical_id, _, attribute = expression.partition(".")
                return str(self.get_att(logical_id, attribute))
            return str(self.ref(expression))

        parts, rest = [], text
        while (start := rest.find("${")) != -1:
            end = rest.index("}", start)
            parts += [rest[:start], substitute(rest[start + 2 : end])]
            rest = rest[end + 1 :]
        return "".join(parts) + rest

    def ref(self, name: str) -> Any:
        deployment = self.deployment
        pseudo = {
            "AWS::Region": deployment.region,
            "AWS::AccountId": deployment.account_id,
            "AWS::StackName": deployment.stack_name,
            "AWS::StackId": deployment.arn(
                "cloudformation", f"stack/{deployment.stack_name}/local"
            ),
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NotificationARNs": [],
            "AWS::NoValue": _NO_VALUE,
        }
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        match self._resource_type(name):
            case ResourceType.QUEUE:
                return self.queue_url(name)
            case ResourceType.SECRET:
                return deployment.secret_arns.get(name) or self.secret_arn(name)
            case ResourceType.API:
                return LOCAL_API_ID
            case ResourceType.LAYER:
                return deployment.arn("lambda", f"layer:{self.physical_name(name)}:1")
        return self.physical_name(name)

    def get_att(self, logical_id: str, attribute: str) -> str:
        resource_type = self._resource_type(logical_id)
        name = self.physical_name(logical_id)
        match resource_type, attribute:
            case ResourceType.TABLE, "Arn":
                return self.deployment.arn("dynamodb", f"table/{name}")
            case ResourceType.QUEUE, "Arn":
                return self.deployment.arn("sqs", name)
            case ResourceType.QUEUE, "QueueName":
                return name
            case ResourceType.QUEUE, "QueueUrl":
                return self.queue_url(logical_id)
            case ((ResourceType.FUNCTION | ResourceType.LAMBDA_FUNCTION), "Arn"):
                return self.deployment.arn("lambda", f"function:{name}")
            case ResourceType.SECRET, "Id":
                return self.ref(logical_id)
        raise TemplateError(f"!GetAtt {logical_id}.{attribute} cannot be resolved locally.")

    def _resource_type(self, logical_id: str) -> str:
        if logical_id not in self.resources:
            raise TemplateError(f"The template has no resource or parameter {logical_id}.")
        return _type(self.raw, logical_id)

    def physical_name(self, logical_id: str) -> str:
        name = self.deployment.physical_name(logical_id)
        properties = self.resources[logical_id]
        is_queue = self._resource_type(logical_id) == ResourceType.QUEUE
        if is_queue and _is_true(self.resolve(properties.get("FifoQueue"))):
            return f"{name}.fifo"  # SQS insists FIFO queue names end so
        return name

    def queue_url(self, logical_id: str) -> str:
        endpoint, account_id = self.deployment.aws_endpoint_url, self.deployment.account_id
        return f"{endpoint}/{account_id}/{self.physical_name(logical_id)}"

    def secret_arn(self, logical_id: str) -> str:
        return self.deployment.arn("secretsmanager", f"secret:{self.physical_name(logical_id)}")


# ---------------------------------------------------------------- resources


def _table(resolver: _Resolver, logical_id: str, properties: dict) -> Table:
    props = resolver.resolve_some(
        properties,
        (
            "KeySchema",
            "AttributeDefinitions",
            "GlobalSecondaryIndexes",
            "LocalSecondaryIndexes",
            "TimeToLiveSpecification",
        ),
    )
    ttl = props.get("TimeToLiveSpecification") or {}

    def index(spec: dict) -> dict:
        # Tables are on-demand locally, so indexes carry no provisioned throughput.
        return {key: spec[key] for key in ("IndexName", "KeySchema", "Projection")}

    return Table(
        logical_id=logical_id,
        name=resolver.physical_name(logical_id),
        arn=resolver.get_att(logical_id, "Arn"),
        key_schema=props["KeySchema"],
        attribute_definitions=props["AttributeDefinitions"],
        global_secondary_indexes=[index(gsi) for gsi in props.get("GlobalSecondaryIndexes", [])],
        local_secondary_indexes=[index(lsi) for lsi in props.get("LocalSecondaryIndexes", [])],
        ttl_attribute=ttl["AttributeName"] if _is_true(ttl.get("Enabled")) else None,
    )


def _queue(resolver: _Resolver, logical_id: str, properties: dict) -> Queue:
    # Every property but these is a queue attribute of the same name. Locally there is no
    # KMS: SQS's own encryption stands in for a KMS key.
    not_attributes = ("QueueName", "Tags", "KmsMasterKeyId", "KmsDataKeyReusePeriodSeconds")
    props = resolver.resolve_some(properties, set(properties) - set(not_attributes))
    redrive = props.get("RedrivePolicy")
    dead_letter_queue = None
    if redrive:
        target = redrive["deadLetterTargetArn"]
        dead_letter_queue = next(
            (
                other
                for other in resolver.resources
                if _type(resolver.raw, other) == ResourceType.QUEUE
                and resolver.get_att(other, "Arn") == target
            ),
            None,
        )
        if dead_letter_queue is None:
            raise TemplateError(
                f"{logical_id}'s dead-letter queue {target} is not in the template."
            )
    attributes = {key: _attribute_string(value) for key, value in props.items()}
    return Queue(
        logical_id=logical_id,
        name=resolver.physical_name(logical_id),
        url=resolver.queue_url(logical_id),
        arn=resolver.get_att(logical_id, "Arn"),
        fifo=_is_true(props.get("FifoQueue")),
        content_based_deduplication=_is_true(props.get("ContentBasedDeduplication")),
        visibility_timeout=int(props.get("VisibilityTimeout", DEFAULT_VISIBILITY_TIMEOUT)),
        message_retention_period=(
            int(props["MessageRetentionPeriod"]) if "MessageRetentionPeriod" in props else None
        ),
        dead_letter_queue=dead_letter_queue,
        max_receive_count=int(redrive["maxReceiveCount"]) if redrive else None,
        attributes=attributes,
    )


def _secret(resolver: _Resolver, logical_id: str, properties: dict) -> Secret:
    props = resolver.resolve_some(
        properties, ("Description", "SecretString", "GenerateSecretString")
    )
    return Secret(
        logical_id=logical_id,
        name=resolver.physical_name(logical_id),
        arn=resolver.ref(logical_id),
        description=props.get("Description"),
        secret_string=props.get("SecretString"),
        generate=props.get("GenerateSecretString"),
    )


def _function(
    resolver: _Resolver,
    logical_id: str,
    properties: dict,
    template_dir: Path,
    queues: tuple[Queue, ...],
) -> Function:
    globals_ = (resolver.raw.get("Globals") or {}).get("Function") or {}
    merged = _merge_globals(globals_, properties)
    props = resolver.resolve_some(
        merged, ("PackageType", "CodeUri", "Handler", "Timeout", "MemorySize", "Environment")
    )
    if props.get("PackageType") == "Image" or not isinstance(props.get("CodeUri"), str):
        raise TemplateError(f"{logical_id}: only local CodeUri folders can run locally.")
    code_uri = (template_dir / props["CodeUri"]).resolve()
    variables = (props.get("Environment") or {}).get("Variables") or {}
    api_routes, queue_triggers, schedules = [], [], []
    for event_id, event in (merged.get("Events") or {}).items():
        event_props = resolver.resolve_some(
            event.get("Properties") or {},
            ("Path", "Method", "Queue", "BatchSize", "FunctionResponseTypes", "Schedule"),
        )
        if event["Type"] == "Api":
            api_routes.append(
                ApiRoute(method=event_props["Method"].upper(), path=event_props["Path"])
            )
        elif event["Type"] == "SQS":
            queue = next((q for q in queues if q.arn == event_props["Queue"]), None)
            if queue is None:
                raise TemplateError(f"{logical_id}.{event_id}: its queue is not in the template.")
            queue_triggers.append(
                QueueTrigger(
                    queue=queue.logical_id,
                    batch_size=int(event_props.get("BatchSize", DEFAULT_SQS_BATCH_SIZE)),
                    report_batch_item_failures="ReportBatchItemFailures"
                    in event_props.get("FunctionResponseTypes", []),
                )
            )
        elif event["Type"] == "Schedule":
            schedules.append(_rate_seconds(f"{logical_id}.{event_id}", event_props["Schedule"]))
        # Other event types have no local trigger.
    return Function(
        logical_id=logical_id,
        name=resolver.physical_name(logical_id),
        arn=resolver.get_att(logical_id, "Arn"),
        code_uri=code_uri,
        handler=props["Handler"],
        timeout=int(props.get("Timeout", DEFAULT_TIMEOUT)),
        memory_size=int(props.get("MemorySize", DEFAULT_MEMORY_SIZE)),
        environment={name: _attribute_string(value) for name, value in variables.items()},
        api_routes=tuple(api_routes),
        queue_triggers=tuple(queue_triggers),
        schedules=tuple(schedules),
    )


_RATE_UNITS = {
    "minute": 60,
    "minutes": 60,
    "hour": 3600,
    "hours": 3600,
    "day": 86400,
    "days": 86400,
}


def _rate_seconds(where: str, expression: str) -> int:
    """An EventBridge rate expression ("rate(5 minutes)") in seconds. Cron expressions
    have no local trigger: the local stack runs schedules at a rate."""
    value, _, unit = expression.removeprefix("rate(").removesuffix(")").partition(" ")
    if not (expression.startswith("rate(") and value.isdigit() and unit in _RATE_UNITS):
        raise TemplateError(f"{where}: only rate(...) schedules run locally, not {expression!r}.")
    return int(value) * _RATE_UNITS[unit]


def _merge_globals(globals_: Any, local: Any) -> Any:
    """SAM's rule: maps merge (the function wins), lists add up, scalars are overridden."""
    if isinstance(globals_, dict) and isinstance(local, dict):
        merged = dict(globals_)
        for key, value in local.items():
            merged[key] = _merge_globals(globals_[key], value) if key in globals_ else value
        return merged
    if isinstance(globals_, list) and isinstance(local, list):
        return globals_ + local
    return local


def _is_true(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def _attribute_string(value: Any) -> str:
    """A value as CloudFormation hands it to a service: text, booleans as true/false."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)
