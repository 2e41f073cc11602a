"""Booking tests' helpers: an in-memory stand-in for payments' call client (its contract,
``chalicelib/payments/calls.py``: create_order / refund / close_order answering JSON, emitting
the real outbox events) so the seat logic can be
driven step by step and by hypothesis without provider round trips, and a session body.
``tests/test_booking_payments.py`` runs the same flows on the real payments domain."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from chalicelib.core import clock
from chalicelib.core.errors import Conflict, NotFound, Unprocessable
from chalicelib.core.ids import new_id
from chalicelib.core.outbox import publish as publish_event


@dataclass
class Order:
    order_id: str
    status: str
    amount_fen: int
    expires_at: datetime
    payer_account_id: str = ""
    product_type: str = ""
    product_id: str = ""
    doctor_id: str = ""
    refunded_fen: int = 0


@dataclass
class Refund:
    refund_id: str
    order_id: str
    amount_fen: int
    request_key: str


@dataclass
class FakePayments:
    """``chalicelib.payments.service`` as promised: create_order / refund / close_order and the
    ``order.paid`` / ``order.closed`` / ``order.refunded`` events. ``pay()`` and ``expire()`` play
    the provider and the order's own expiry timer. No DynamoDB calls except the events."""

    orders: dict = field(default_factory=dict)
    refunds: dict = field(default_factory=dict)
    calls: list = field(default_factory=list)

    def _event(self, type_: str, o: Order, amount: int | None = None) -> None:
        publish_event(type_, {"order_id": o.order_id, "product_type": o.product_type, "product_id": o.product_id,
                        "payer_account_id": o.payer_account_id, "doctor_id": o.doctor_id,
                        "amount_fen": o.amount_fen if amount is None else amount})

    def create_order(self, *, payer_account_id, product_type, product_id, amount_fen, doctor_id, description,
                     expires_in_s=900) -> dict:
        self.calls.append(("create_order", product_id))
        o = Order(new_id(), "created", amount_fen, clock.now() + timedelta(seconds=expires_in_s), payer_account_id,
                  product_type, product_id, doctor_id)
        self.orders[o.order_id] = o
        if amount_fen == 0:
            o.status = "paid"
            self._event("order.paid", o)
        return {"order_id": o.order_id, "status": o.status, "amount_fen": o.amount_fen,
                "expires_at": clock.iso(o.expires_at)}

    def close_order(self, order_id, reason) -> None:
        self.calls.append(("close_order", order_id))
        o = self.orders.get(order_id)
        if o is None:
            raise NotFound("order not found")
        if o.status == "closed":
            return
        if o.status != "created":
            raise Conflict(f"the order is {o.status}", code="order_not_closable")
        o.status = "closed"
        self._event("order.closed", o)

    def refund(self, *, order_id, amount_fen, reason, request_key) -> Refund:
        """Like the real refund with a provider that answers SUCCESS at once (WeChat Pay's usual
        answer): the same errors and codes, the same request-key idempotency."""
        self.calls.append(("refund", order_id))
        if request_key in self.refunds:
            return self.refunds[request_key]
        o = self.orders.get(order_id)
        if o is None:
            raise NotFound("order not found")
        if o.status not in ("paid", "refunded"):
            raise Conflict(f"the order is {o.status}", code="order_not_refundable")
        remaining = o.amount_fen - o.refunded_fen
        amount = remaining if amount_fen is None else amount_fen
        if amount <= 0 and o.amount_fen == 0:
            r = self.refunds[request_key] = Refund(new_id(), order_id, 0, request_key)
            return r
        if not 0 < amount <= remaining:
            raise Unprocessable(f"at most {remaining} fen can still be refunded", code="refund_exceeds_payment")
        o.refunded_fen += amount
        o.status = "refunded"
        r = Refund(new_id(), order_id, amount, request_key)
        self.refunds[request_key] = r
        self._event("order.refunded", o, amount)
        return r

    # -- what the provider / payments' own timer would do --
    def pay(self, order_id) -> bool:
        """The provider's paid callback: paid once; a closed order stays closed but the money
        has moved (provider paid after close) — modelled as paid so the booking refunds it."""
        o = self.orders[order_id]
        if o.status in ("paid", "refunded"):
            return False
        o.status = "paid"
        self._event("order.paid", o)
        return True

    def expire(self, order_id) -> None:
        o = self.orders[order_id]
        if o.status == "created":
            o.status = "closed"
            self._event("order.closed", o)

    def by_product(self, product_id) -> Order:
        return next(o for o in self.orders.values() if o.product_id == product_id)

    def refunded_total(self, order_id) -> int:
        return sum(r.amount_fen for r in self.refunds.values() if r.order_id == order_id)


def session_body(**over) -> dict:
    """A session 3 days ahead, 09:00–11:30 Asia/Shanghai."""
    day = (clock.now().astimezone(clock.SHANGHAI) + timedelta(days=3)).date()
    return {"date": day.isoformat(), "start_time": "09:00", "end_time": "11:30", "hospital": "北京协和医院",
            "campus": "东单院区", "room": "门诊楼 3 层 12 诊室", "capacity": 2, "fee_fen": 5000, **over}



def publish(api, doctor, **over) -> dict:
    """The doctor publishes a session (``session_body`` with ``over``); its JSON."""
    r = api.post("/v1/doctor/booking/sessions", session_body(**over), token=doctor.token)
    assert r.status == 201, r.body
    return r.body


def book(api, user, session_id, profile=0):
    return api.post(f"/v1/booking/sessions/{session_id}/book", {"profile_id": user.profiles[profile]},
                    token=user.token)
