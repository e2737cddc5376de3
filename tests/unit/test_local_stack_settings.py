"""The local stack's settings from the environment, and its banner."""

import pytest

from local.stack import LocalStack, Settings


def test_defaults_when_the_environment_says_nothing():
    settings = Settings.from_environment({})

    assert settings == Settings(
        port=3000,
        public_base_url=None,
        admin_username="admin@example.com",
        admin_password=None,
    )


def test_the_environment_sets_every_setting():
    settings = Settings.from_environment(
        {
            "PORT": "8080",
            "PUBLIC_BASE_URL": "https://abc.ngrok.app",
            "ADMIN_USERNAME": "ops@example.com",
            "ADMIN_PASSWORD": "chosen password",
        }
    )

    assert settings == Settings(8080, "https://abc.ngrok.app", "ops@example.com", "chosen password")


def test_a_port_must_be_a_number():
    with pytest.raises(ValueError, match="PORT"):
        Settings.from_environment({"PORT": "http"})


def test_a_generated_admin_password_is_shown_in_the_banner_with_the_login_curl():
    stack = LocalStack(Settings())
    stack.base_url = "http://localhost:3000"

    banner = stack.banner()

    assert stack.admin_password_generated
    assert len(stack.admin_password) >= 16
    assert f"Admin password {stack.admin_password}" in banner
    assert (
        "curl -X POST http://localhost:3000/auth/login/ --data "
        f'\'{{"username": "admin@example.com" ,"password":"{stack.admin_password}"}}\' '
        '--header "Content-Type: application/json"'
    ) in banner


def test_each_stack_generates_its_own_admin_password():
    assert LocalStack(Settings()).admin_password != LocalStack(Settings()).admin_password
