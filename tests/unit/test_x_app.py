"""The X app's secret and what it signs: the CRC answer, delivery signatures, and where the
consumer key and secret come from (the environment locally, Secrets Manager in AWS)."""

import base64
import hashlib
import hmac
import json
import time

import boto3
import pytest
from moto import mock_aws

from tests.aws_calls import count_reads
from twittnow import instance, x_app
from twittnow.x_app import (
    AppCredentials,
    app_credentials,
    crc_response,
    delivery_signature,
    signature_matches,
)

# ---------------------------------------------------------------- webhook security


def independent_hmac(secret: str, message: bytes) -> str:
    return (
        "sha256="
        + base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()
    )


def test_the_crc_response_is_the_base64_hmac_sha256_of_the_token():
    assert crc_response("consumer-secret", "challenge_string") == {
        "response_token": independent_hmac("consumer-secret", b"challenge_string")
    }
    # A fixed vector (openssl dgst -sha256 -hmac secret -binary | base64), so that the
    # code and the test cannot drift together.
    assert crc_response("secret", "token") == {
        "response_token": "sha256=6UERDj0r/oJiHw4+FDRzDXMF0QbF9oyHFl0LJ6RhGko="
    }


@pytest.mark.parametrize(
    "token",
    [
        json.dumps({"for_user_id": "1500", "direct_message_events": []}),
        "",
        "two words",
        'quo"te',
        "a" * 129,
        "abc===",
        "a+b",
        "a/b",
        "\u00e9",
    ],
)
def test_the_crc_response_signs_no_token_that_is_not_shaped_like_xs(token):
    with pytest.raises(x_app.UnsafeCrcToken):
        crc_response("consumer-secret", token)


def test_the_crc_response_signs_xs_tokens():
    # base64 of a UUID, as X sends, with and without padding
    for token in ["M2RkODJkZmMtYjlkYi00NmQ4LTk0MGUtM2JjYzkwM2Q4MjQ0", "YWJj", "YWI=", "a" * 128]:
        assert crc_response("s", token)["response_token"] == independent_hmac("s", token.encode())


def test_a_delivery_signature_signs_the_raw_body():
    body = json.dumps({"for_user_id": "1500", "direct_message_events": []}).encode()

    signature = delivery_signature("consumer-secret", body)

    assert signature == independent_hmac("consumer-secret", body)
    assert signature_matches("consumer-secret", body, signature)
    assert signature_matches("consumer-secret", body, f" {signature} ")


@pytest.mark.parametrize(
    "header",
    [None, "", "sha256=", "sha256=AAAA", "sha1=whatever", "not base64 at all €"],
)
def test_a_missing_or_wrong_signature_does_not_match(header):
    assert not signature_matches("consumer-secret", b"{}", header)


def test_a_signature_for_another_body_or_secret_does_not_match():
    signature = delivery_signature("consumer-secret", b'{"a": 1}')

    assert not signature_matches("consumer-secret", b'{"a": 2}', signature)
    assert not signature_matches("other-secret", b'{"a": 1}', signature)


# ---------------------------------------------------------------- the app's credentials


@pytest.fixture
def no_app_environment(monkeypatch):
    for name in (
        "X_CONSUMER_KEY",
        "X_CONSUMER_SECRET",
        "X_CLIENT_ID",
        "X_CLIENT_SECRET",
        "X_APP_SECRET_ARN",
    ):
        monkeypatch.delenv(name, raising=False)
    instance.forget(x_app._app_secrets)
    yield monkeypatch
    instance.forget(x_app._app_secrets)


@pytest.fixture
def app_secret(no_app_environment):
    no_app_environment.setenv("AWS_DEFAULT_REGION", "us-east-1")
    no_app_environment.setenv("AWS_ACCESS_KEY_ID", "testing")
    no_app_environment.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        secrets = boto3.client("secretsmanager")
        arn = secrets.create_secret(
            Name="twittnow/x-app",
            SecretString=json.dumps({"consumer_key": "aws-key", "consumer_secret": "aws-secret"}),
        )["ARN"]
        no_app_environment.setenv("X_APP_SECRET_ARN", arn)
        yield secrets, arn


def test_the_environment_gives_the_app_credentials_locally(no_app_environment):
    no_app_environment.setenv("X_CONSUMER_KEY", "local-key")
    no_app_environment.setenv("X_CONSUMER_SECRET", "local-secret")
    no_app_environment.setenv(
        "X_APP_SECRET_ARN", "arn:aws:secretsmanager:us-east-1:1:secret:unused"
    )

    assert app_credentials() == AppCredentials("local-key", "local-secret")


def test_the_secret_gives_the_app_credentials_in_aws_read_once_per_max_age(
    app_secret, no_app_environment
):
    secrets, arn = app_secret
    no_app_environment.setenv("X_CONSUMER_KEY", "only-half")
    no_app_environment.setenv("POWERTOOLS_PARAMETERS_MAX_AGE", "1")
    reads = count_reads(x_app._app_secrets().client)

    assert app_credentials() == AppCredentials("aws-key", "aws-secret")
    # Rotated: the new secret is read once the cached value is older than the max age,
    # with no redeploy and no new instance.
    secrets.put_secret_value(
        SecretId=arn, SecretString=json.dumps({"consumer_key": "b", "consumer_secret": "c"})
    )
    assert app_credentials() == AppCredentials("aws-key", "aws-secret")
    assert len(reads) == 1
    time.sleep(1.1)
    assert app_credentials() == AppCredentials("b", "c")
    assert len(reads) == 2


def test_a_secret_without_credentials_yet_is_a_clear_error(app_secret):
    secrets, arn = app_secret
    secrets.put_secret_value(
        SecretId=arn, SecretString='{"consumer_key": "", "consumer_secret": ""}'
    )

    with pytest.raises(RuntimeError, match="does not hold a consumer key and secret yet"):
        app_credentials()

    secrets.put_secret_value(
        SecretId=arn, SecretString='{"consumer_key": "k", "consumer_secret": "s"}'
    )
    assert app_credentials() == AppCredentials("k", "s")  # a failure is not remembered


def test_the_oauth2_client_comes_with_the_consumer_credentials(no_app_environment):
    no_app_environment.setenv("X_CONSUMER_KEY", "local-key")
    no_app_environment.setenv("X_CONSUMER_SECRET", "local-secret")
    no_app_environment.setenv("X_CLIENT_ID", "local-client")
    no_app_environment.setenv("X_CLIENT_SECRET", "local-client-secret")

    credentials = app_credentials()

    assert credentials == AppCredentials(
        "local-key", "local-secret", "local-client", "local-client-secret"
    )
    assert "local-client-secret" not in repr(credentials)


def test_the_secret_gives_the_oauth2_client_beside_the_consumer_credentials(app_secret):
    secrets, arn = app_secret
    assert app_credentials() == AppCredentials("aws-key", "aws-secret")  # none yet: empty
    instance.forget(x_app._app_secrets)
    stored = {
        "consumer_key": "k",
        "consumer_secret": "s",
        "client_id": "client",
        "client_secret": "client-secret",
    }
    secrets.put_secret_value(SecretId=arn, SecretString=json.dumps(stored))

    assert app_credentials() == AppCredentials("k", "s", "client", "client-secret")


def test_no_configuration_is_a_clear_error(no_app_environment):
    with pytest.raises(RuntimeError, match="X_CONSUMER_KEY and X_CONSUMER_SECRET"):
        app_credentials()
