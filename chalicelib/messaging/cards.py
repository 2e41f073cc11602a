"""Other domains' news as cards in the doctor–patient conversation (booking, 加号)."""

from __future__ import annotations

from datetime import datetime

from chalicelib.bindings import service as bindings
from chalicelib.core import clock
from chalicelib.core.outbox import consumer

from .sending import post_card

_BOOKING_CARD_FIELDS = ("booking_id", "request_id", "session_id", "status", "starts_at", "hold_expires_at",
                        "amount_fen", "hours_before", "reason", "decline_reason")


def _booking_card(event_type: str, card_type: str, *, only_status: str | None = None) -> None:
    """Register a consumer that posts ``card_type`` into the conversation of the binding the
    booking event names (doctor + profile). ``only_status``: post only for that booking status."""

    def on_event(event_id: str, payload: dict) -> None:
        if only_status is not None and payload.get("status") != only_status:
            return
        b = bindings.get_active_binding(payload["doctor_id"], payload["profile_id"])
        if b is not None:
            card = {k: payload[k] for k in _BOOKING_CARD_FIELDS if payload.get(k) is not None}
            for k in ("starts_at", "hold_expires_at"):  # events carry UTC; clients are shown Asia/Shanghai
                if k in card:
                    card[k] = clock.iso(datetime.fromisoformat(card[k]))
            post_card(b.binding_id, card_type, card, once_key=f"card#{card_type}#{event_id}")

    on_event.__qualname__ = "on_" + event_type.replace(".", "_")  # the dispatcher's per-consumer dedup key
    consumer(event_type)(on_event)


_booking_card("booking.confirmed", "booking_confirmed")
_booking_card("booking.offered", "booking_offered")  # a waitlist seat or an accepted request: pay before it lapses
_booking_card("booking.cancelled", "booking_cancelled")
_booking_card("booking.released", "booking_cancelled", only_status="doctor_cancelled")  # an expiring hold is no news
_booking_card("booking.reminder", "booking_reminder")
_booking_card("booking.request_declined", "booking_request_declined")
_booking_card("booking.request_expired", "booking_request_expired")


# --- follow-up (随访): a task that is due, and its one reminder ---------------------------------

_FOLLOWUP_CARD_FIELDS = ("plan_id", "task_id", "item_id", "kind", "due_at", "window_ends_at")


def _followup_card(event_type: str, card_type: str) -> None:
    """Post ``card_type`` into the conversation of the plan's binding (ids and times only; the
    app opens the task through the follow-up API)."""

    def on_event(event_id: str, payload: dict) -> None:
        card = {k: payload[k] for k in _FOLLOWUP_CARD_FIELDS if payload.get(k) is not None}
        for k in ("due_at", "window_ends_at"):
            if k in card:
                card[k] = clock.iso(datetime.fromisoformat(card[k]))
        post_card(payload["binding_id"], card_type, card, once_key=f"card#{card_type}#{event_id}")

    on_event.__qualname__ = "on_" + event_type.replace(".", "_")
    consumer(event_type)(on_event)


_followup_card("followup.task_due", "followup_task")
_followup_card("followup.task_reminder", "followup_task_reminder")
