"""python -m ops permissions: what a function's policies grant against what a test run's
recorded calls used."""

import json

from local import iam
from ops import permissions

TABLE = "arn:aws:dynamodb:us-east-1:123456789012:table/stack-Users"
SECRETS = "arn:aws:secretsmanager:us-east-1:123456789012:secret:stack/x/*"
CRUD = [
    "dynamodb:GetItem",
    "dynamodb:DeleteItem",
    "dynamodb:PutItem",
    "dynamodb:Scan",
    "dynamodb:Query",
    "dynamodb:UpdateItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:BatchGetItem",
    "dynamodb:DescribeTable",
    "dynamodb:ConditionCheckItem",
]


def function_policies(template: str) -> iam.FunctionPolicies:
    statement = {"Effect": "Allow", "Action": CRUD, "Resource": [TABLE, f"{TABLE}/index/*"]}
    inline = {
        "Effect": "Allow",
        "Action": ["secretsmanager:CreateSecret", "secretsmanager:TagResource"],
        "Resource": SECRETS,
    }
    return iam.FunctionPolicies(
        logical_id="Fn",
        role="stack-FnRole",
        policies=(
            iam.Policy("Policies[0] DynamoDBCrudPolicy(Users)", 0, {"Statement": [statement]}),
            iam.Policy("Policies[1] Statement", 1, {"Statement": [inline]}),
            iam.Policy(
                "Policies[2] AWSSecretsManagerGetSecretValuePolicy(App)",
                2,
                {"Statement": [{"Effect": "Allow", "Action": "secretsmanager:GetSecretValue"}]},
            ),
        ),
        account_id="123456789012",
        region="us-east-1",
        template=template,
    )


def test_the_report_shows_what_was_used_what_was_not_and_what_was_refused(tmp_path):
    template = tmp_path / "template.yaml"
    template.write_text("")
    policies = function_policies(str(template.resolve()))
    calls = [
        ("dynamodb:GetItem", TABLE),
        ("dynamodb:Query", f"{TABLE}/index/by_name"),
        ("secretsmanager:CreateSecret", SECRETS.replace("*", "1-??????")),
        ("dynamodb:GetItem", TABLE.replace("Users", "Tokens")),
    ]
    lines = []
    for action, resource in calls:
        allowed, grants = policies.decide(action, resource)
        lines.append(
            {
                "template": policies.template,
                "function": "Fn",
                "action": action,
                "resource": resource,
                "allowed": allowed,
                "grants": [list(grant.key) for grant in grants],
            }
        )
    # A run of another template (a test's altered copy) is left out.
    lines.append(dict(lines[0], template="/elsewhere/template.json", action="dynamodb:Scan"))
    record = tmp_path / "used.jsonl"
    record.write_text("".join(json.dumps(line) + "\n" for line in lines))

    uses = permissions.read_used_calls(record, template)
    text, findings, refused = permissions.report({"Fn": policies}, uses, "stack")

    assert "    dynamodb table/Users: GetItem  (not used: DeleteItem PutItem" in text
    assert "    dynamodb table/Users/index/*: Query  (not used:" in text
    assert findings == [
        "Fn Policies[0] DynamoDBCrudPolicy(Users): DynamoDBReadPolicy would do",
        "Fn Policies[1] Statement: TagResource on secretsmanager secret:<stack>/x/* not used",
        "Fn Policies[2] AWSSecretsManagerGetSecretValuePolicy(App): not used",
    ]
    assert refused == [f"Fn: dynamodb:GetItem on {TABLE.replace('Users', 'Tokens')}"]
