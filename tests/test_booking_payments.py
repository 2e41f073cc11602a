"""Booking against the real payments domain (sandbox WeChat Pay: real signing and verification):
hold → pay → confirmed, cancel → full refund, expiry → closed order releases the seat, a doctor's
cancellation refunds, and the booking budget with the real ``create_order``."""

import pytest

from chalicelib.core import timers
from chalicelib.payments.models import Order
from tests.bindings_support import bind
from tests.booking_support import session_body
from tests.doctors_support import make_admin, make_doctor, make_patient
from tests.payments_support import deliver, pay, wxpay  # noqa: F401  (fixture)
from tests.support import count_ddb_calls


@pytest.fixture
def world(api, clock, drain, wxpay):  # noqa: F811
    admin = make_admin(api)
    doctor = make_doctor(api, admin)
    alice = make_patient(api)
    bind(api, doctor, alice, 0)
    drain()
    return doctor, alice


def _publish(api, doctor, **over):
    r = api.post("/v1/doctor/booking/sessions", session_body(**over), token=doctor.token)
    assert r.status == 201, r.body
    return r.body["session_id"]


def _book(api, alice, sid):
    r = api.post(f"/v1/booking/sessions/{sid}/book", {"profile_id": alice.profiles[0]}, token=alice.token)
    assert r.status == 201, r.body
    return r.body


def test_pay_confirm_then_cancel_refunds_in_full(api, world, wxpay, drain):  # noqa: F811
    doctor, alice = world
    sid = _publish(api, doctor)
    b = _book(api, alice, sid)
    o = Order.get(b["order_id"])
    assert (o.product_type, o.product_id, o.amount_fen, o.status) == ("booking", b["booking_id"], 5000, "created")
    pay(api, wxpay, alice, b["order_id"])
    assert "booking.confirmed" in drain()
    assert api.get(f"/v1/booking/bookings/{b['booking_id']}", token=alice.token).body["status"] == "confirmed"
    r = api.post(f"/v1/booking/bookings/{b['booking_id']}/cancel", token=alice.token)
    assert r.status == 200 and r.body["status"] == "cancelled"
    drain()
    refund_id = next(iter(wxpay.refunds))
    assert deliver(api, *wxpay.complete_refund(refund_id), path="/v1/payments/wechat/refund-notify").status == 204
    o = Order.get(b["order_id"])
    assert (o.status, o.refunded_fen) == ("refunded", 5000)


def test_the_order_says_what_to_poll_until_the_booking_is_delivered(api, world, wxpay, drain):  # noqa: F811
    doctor, alice = world
    b = _book(api, alice, _publish(api, doctor))
    order = api.get(f"/v1/orders/{b['order_id']}", token=alice.token).body
    d = order["delivery"]
    assert d["path"] == f"/v1/booking/bookings/{b['booking_id']}" and "confirmed" in d["ready"]
    assert api.get(d["path"], token=alice.token).body[d["field"]] not in d["ready"]  # held, not yet paid
    pay(api, wxpay, alice, b["order_id"])
    drain()  # the order.paid event reaches booking (the stream → queue path on AWS)
    assert api.get(d["path"], token=alice.token).body[d["field"]] in d["ready"]


def test_unpaid_hold_released_by_payments_expiry(api, world, wxpay, clock, drain):  # noqa: F811
    doctor, alice = world
    sid = _publish(api, doctor, capacity=1)
    b = _book(api, alice, sid)
    clock.advance(minutes=15)
    timers.sweep()
    events = drain()
    assert "order.closed" in events and events.count("booking.released") == 1
    assert Order.get(b["order_id"]).status == "closed"
    clock.advance(minutes=2)
    timers.sweep()  # our own backstop timer finds nothing to release
    assert "booking.released" not in drain()
    alice = api.relogin(alice)
    s = api.get(f"/v1/booking/sessions/{sid}", token=alice.token).body
    assert (s["seats_taken"], s["held"]) == (0, 0)


def test_doctor_cancel_refunds_paid_and_closes_unpaid(api, world, wxpay, drain):  # noqa: F811
    doctor, alice = world
    sid = _publish(api, doctor)
    b = _book(api, alice, sid)
    pay(api, wxpay, alice, b["order_id"])
    drain()
    assert api.post(f"/v1/doctor/booking/sessions/{sid}/cancel", {"reason": "停诊"}, token=doctor.token).status == 200
    drain()
    assert Order.get(b["order_id"]).status == "refunding"  # full refund submitted to the provider
    assert api.get(f"/v1/booking/bookings/{b['booking_id']}", token=alice.token).body["status"] == "doctor_cancelled"


def test_book_budget_with_real_order(api, world):
    doctor, alice = world
    sid = _publish(api, doctor)
    with count_ddb_calls() as calls:
        _book(api, alice, sid)
    # GetItem(session) + TransactWriteItems(order, its expiry timer, order.created) by payments
    # + TransactWriteItems(seat, hold, guards, eligibility check, hold timer, booking.held)
    assert calls == ["GetItem", "TransactWriteItems", "TransactWriteItems"], calls
