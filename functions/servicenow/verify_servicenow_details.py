"""POST /servicenow-details/{details_id}/verify/: check the stored credentials on the instance."""

from servicenow import verification
from servicenow.models import VerificationView
from twittnow.api import Access, answers, create_app, current_caller, lambda_entry
from twittnow.wiring import ports

app = create_app()


@app.post(
    "/servicenow-details/<details_id>/verify",
    responses=answers(
        200,
        {
            409: "The details were changed while being verified: the outcome was not kept; verify again."
        },
    ),
)
def verify_servicenow_details(details_id: str) -> VerificationView:
    checked = verification.verify(ports(), current_caller(app), details_id)
    assert checked.status_checked_at is not None, "a verified record has its check's time"
    return VerificationView(
        status=checked.status, detail=checked.status_detail, checked_at=checked.status_checked_at
    )


lambda_handler = lambda_entry(app, Access.LOGIN)
