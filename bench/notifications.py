"""Notifications: DynamoDB calls per event per recipient (inbox item, inbox + push) and the
inbox page."""

from bench.harness import Scenario
from chalicelib.core.ids import new_id
from tests.doctors_support import make_patient

_state: dict = {}


def _setup(env):
    _state.update(patient=make_patient(env.api))
    return _state


def _event(event_type: str, **fields):
    def run(env, st):
        from chalicelib.notifications import delivery

        payload = {"booking_id": new_id(), "order_id": new_id(), "amount_fen": 5000, "status": "cancelled",
                   "starts_at": "2026-12-01T01:00:00+00:00", **{k: st["patient"].account_id for k in fields}}
        delivery.handle(event_type, new_id(), payload)
        return 200

    return run


SCENARIOS = [
    # state GetItem + one TransactWriteItems (delivery key, item, unread counter)
    Scenario("notifications: event → inbox item (per recipient)", {"TransactWriteItems": 1, "total": 2},
             _setup, _event("booking.cancelled", account_id=True), ratio_budget=None),
    # + push: queue transaction (claim + next try's timer), devices Query, outcome transaction
    Scenario("notifications: event → inbox + push (per recipient, no device)", {"total": 5},
             lambda env: _state, _event("order.paid", payer_account_id=True), ratio_budget=None),
    Scenario("GET /v1/notifications", {"Query": 1, "total": 2}, lambda env: _state,
             lambda env, st: env.api.get("/v1/notifications?limit=20", token=st["patient"].token).status),
]
