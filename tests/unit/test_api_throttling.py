"""The API's throttles in template.yaml: X's deliveries, the instances' /events/ and the
anonymous routes each have a bucket of their own, so that a flood of one route (an
anonymous login or CRC flood) cannot get X's deliveries or agents' replies throttled."""

import pytest

from local.template import DEFAULT_TEMPLATE, Deployment, load_template, read_template

STAGE_DEFAULT = ("/*", "*")
DEPLOYMENT = Deployment(
    aws_endpoint_url="http://127.0.0.1:4566", stack_name="unit", region="eu-west-1"
)


def method_settings() -> dict[tuple[str, str], dict]:
    api = read_template(DEFAULT_TEMPLATE)["Resources"]["TwittnowApi"]["Properties"]
    return {(s["ResourcePath"], s["HttpMethod"]): s for s in api["MethodSettings"]}


def routes_of(*function_ids: str) -> set[tuple[str, str]]:
    """(ResourcePath as MethodSettings spells it, method) of every route of the functions."""
    template = load_template(DEPLOYMENT)
    return {
        ("/" + route.path.replace("/", "~1"), route.method)
        for function_id in function_ids
        for route in template.function(function_id).api_routes
    }


def limits(settings: dict) -> tuple[int, int]:
    return settings["ThrottlingRateLimit"], settings["ThrottlingBurstLimit"]


@pytest.mark.parametrize(
    "function_id, most_rate, least_rate",
    [
        ("WebhookDeliveryFunction", None, 100),  # X's deliveries: room for bursts
        ("CreateCaseEventFunction", None, 50),  # the instances' replies
        ("WebhookCrcFunction", 1, None),  # X checks hourly and at registration
        ("LoginFunction", 10, None),
        ("TwitterCallbackFunction", 10, None),
    ],
)
def test_every_path_and_alias_of_the_route_has_its_own_limit(function_id, most_rate, least_rate):
    settings = method_settings()
    routes = routes_of(function_id)
    assert routes, function_id
    default_rate, _ = limits(settings[STAGE_DEFAULT])
    for route in routes:
        assert route in settings, f"{route} of {function_id} shares the stage's default bucket"
        rate, burst = limits(settings[route])
        assert burst >= rate > 0
        if most_rate is not None:
            assert rate <= most_rate < default_rate
        if least_rate is not None:
            assert rate >= least_rate


def test_every_limit_names_a_route_the_template_serves():
    """A limit on a path no function serves (a typo, a missing ~1) would throttle nothing."""
    template = load_template(DEPLOYMENT)
    served = {
        ("/" + route.path.replace("/", "~1"), route.method)
        for function in template.functions
        for route in function.api_routes
    }
    for route in method_settings().keys() - {STAGE_DEFAULT}:
        assert route in served, route
