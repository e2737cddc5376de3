"""POST /twitter-activity (aliases /activity/, /api/activity/): X's signed deliveries of
what happened to connected accounts, verified and queued for the inbound processor."""

from twitter_activity import deliveries
from twitter_activity.models import DeliveryAccepted
from twittnow.api import Access, create_app, lambda_entry
from twittnow.observability import metrics
from twittnow.wiring import ports

app = create_app()


@app.post("/twitter-activity")
@app.post("/activity")
@app.post("/api/activity")
def receive_delivery() -> DeliveryAccepted:
    return DeliveryAccepted(
        queued=deliveries.accept(ports(), (app.current_event.decoded_body or "").encode())
    )


lambda_handler = metrics.log_metrics(lambda_entry(app, Access.X_WEBHOOK))
