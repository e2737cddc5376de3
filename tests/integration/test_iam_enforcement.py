"""Each function runs locally under the policies `sam deploy` would give it: one statement
less in a copy of the template, and that function's endpoint fails with AccessDenied,
while the untouched template serves it."""

import json

from local import iam
from local.gateway import Gateway, HttpRequest, Router
from local.runtime import Runtime
from local.template import DEFAULT_TEMPLATE, REPO_ROOT, Deployment, load_template, read_template
from tests.integration.test_logs import function_logs, log_records

REMOVED = {"DynamoDBCrudPolicy": {"TableName": {"Ref": "LoginAttemptsTable"}}}


def template_copy(tmp_path, remove_statement: bool):
    """template.yaml as JSON (which CloudFormation and SAM read too), with LoginFunction's
    policy on the login attempts table removed when asked."""
    raw = read_template(DEFAULT_TEMPLATE)
    raw["Globals"]["Function"]["CodeUri"] = str(REPO_ROOT / "functions")
    layer = raw["Resources"]["CommonLayer"]["Properties"]
    layer["ContentUri"] = str(REPO_ROOT / "layers" / "common")
    if remove_statement:
        policies = raw["Resources"]["LoginFunction"]["Properties"]["Policies"]
        policies.remove(REMOVED)
    path = tmp_path / "template.json"
    path.write_text(json.dumps(raw))
    return path


def log_in_under(stack, template_path):
    """POST /auth/login/ as the stack's admin, through a local API Gateway whose functions
    run under the policies of the template at `template_path` (over the stack's AWS)."""
    deployment = Deployment(
        aws_endpoint_url=stack.aws_endpoint_url,
        stack_name=stack.stack_name,
        region=stack.aws.region,
        secret_arns={secret.logical_id: secret.arn for secret in stack.template.secrets},
    )
    template = load_template(deployment, template_path)
    runtime = Runtime()
    runtime.enforce(iam.expand_policies(template, deployment))
    gateway = Gateway(runtime.invoke, port=0, stage=template.api_stage)
    gateway.router = Router(template.functions)
    body = {"username": stack.admin_username, "password": stack.admin_password}
    try:
        with function_logs(stack) as output:
            response = gateway.handle(
                HttpRequest(
                    method="POST",
                    target="/auth/login/",
                    headers=[("Content-Type", "application/json")],
                    body=json.dumps(body).encode(),
                    client_ip="127.0.0.1",
                )
            )
    finally:
        gateway.stop()
    return response, log_records(output.getvalue())


def test_the_untouched_template_lets_the_function_do_its_work(stack_environment, tmp_path):
    response, _ = log_in_under(stack_environment, template_copy(tmp_path, False))
    assert response.status == 200, response.body
    assert "token" in json.loads(response.body)


def test_a_function_missing_a_statement_fails_with_access_denied(stack_environment, tmp_path):
    stack = stack_environment
    response, records = log_in_under(stack, template_copy(tmp_path, True))
    assert response.status == 500
    assert json.loads(response.body)["code"] == "INTERNAL_ERROR"
    table = next(t.arn for t in stack.template.tables if t.logical_id == "LoginAttemptsTable")
    denied = (
        "AccessDeniedException",
        f"is not authorized to perform: dynamodb:UpdateItem on resource: {table} ",
    )
    errors = [record.get("exception", "") for record in records if record["level"] == "ERROR"]
    assert any(all(part in error for part in denied) for error in errors), errors
