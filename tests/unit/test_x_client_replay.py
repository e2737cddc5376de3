"""XClient.replay_webhook: POST /2/webhooks/replay with the app's bearer token
(x-api/webhooks/create-replay-job-for-webhook.mdx), answering the job's id; X's refusals
are typed errors."""

import json

import pytest
from responses import matchers

from tests.unit.test_x_client import API, BEARER, WEBHOOK_ID, api, bearer, client, problem
from twittnow.clients.x import XRequestRejected, XUnavailable

__all__ = ["api", "bearer", "client"]  # the fixtures, shared with test_x_client


def test_a_replay_is_asked_as_the_app_and_answers_its_job(api, client, bearer):
    body = {"webhook_id": WEBHOOK_ID, "from_date": "202612071405", "to_date": "202612071430"}
    api.post(
        f"{API}/2/webhooks/replay",
        json={"data": {"job_id": "1798000000000000001", "created_at": "2026-12-07T14:31:00.000Z"}},
        match=[matchers.json_params_matcher(body)],
    )

    assert client.replay_webhook(WEBHOOK_ID, "202612071405", "202612071430") == (
        "1798000000000000001"
    )
    assert api.calls[-1].request.headers["Authorization"] == f"Bearer {BEARER}"
    assert json.loads(api.calls[-1].request.body) == body


def test_a_replay_x_refuses_or_answers_without_a_job_is_an_error(api, client, bearer):
    api.post(
        f"{API}/2/webhooks/replay",
        status=409,
        json=problem(409, "ReplayConflictError: a replay job is already in progress"),
    )
    api.post(f"{API}/2/webhooks/replay", json={"data": {}})

    with pytest.raises(XRequestRejected, match="ReplayConflictError"):
        client.replay_webhook(WEBHOOK_ID, "202612071405", "202612071430")
    with pytest.raises(XUnavailable, match="job_id"):
        client.replay_webhook(WEBHOOK_ID, "202612071405", "202612071430")
