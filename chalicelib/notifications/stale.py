"""Stale checks: just before a push, SMS or WeChat message is sent, whether what it tells is
still so (a reminder for a booking cancelled meanwhile becomes ``not_sent: stale``).

Each check asks the owning domain's read-only module or service, so the notifications role reads
those tables and writes none of them (the SMS sender also reads the recipient's account).
"""

from __future__ import annotations

from chalicelib.core.http import Caller


def is_stale(check: str, payload: dict) -> bool:
    if check == "booking_confirmed":
        from chalicelib.booking import service as booking
        from chalicelib.core.errors import NotFound

        try:
            b = booking.get_booking(Caller(account_id=payload["account_id"], role="patient"), payload["booking_id"])
        except NotFound:
            return True
        return b.status != "confirmed"
    if check == "consultation_unanswered":
        from chalicelib.messaging import service as messaging

        c = messaging.consultation_state(payload["consultation_id"])
        return c is None or c.status != "open" or c.answered_at is not None
    if check == "booking_request_open":
        from chalicelib.booking import service as booking

        return not booking.request_is_open(payload["request_id"])
    if check == "followup_task_open":
        from chalicelib.followup import state as followup

        return not followup.task_is_open(payload["plan_id"], payload["task_id"])
    return False
