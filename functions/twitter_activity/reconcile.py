"""The scheduled recovery of missed deliveries (EventBridge, every 5 minutes): X's replay
of a gap in the webhook's deliveries, and the X Chat messages X never delivered
(twittnow.recovery)."""

from twittnow import recovery, wiring
from twittnow.observability import logger, metrics, traced_handler


@traced_handler
@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict, context) -> dict:
    report = recovery.run(wiring.ports())
    return {
        "replays": [
            {"webhook_id": r.webhook_id, "from_date": r.from_date, "to_date": r.to_date}
            for r in report.replays
        ],
        "reconciled": report.reconciled,
        "invalid_webhooks": report.invalid_webhooks,
    }
