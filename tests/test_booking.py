"""Booking (加号) through the HTTP API: publish, book, pay, expire, cancel, waitlist, requests,
attendance, QR/ics, reminders, timezone edges and call budgets."""


import pytest

from chalicelib.booking import service as booking
from chalicelib.core import timers
from tests.bindings_support import bind
from tests.booking_support import FakePayments, session_body
from tests.doctors_support import make_admin, make_doctor, make_patient


@pytest.fixture
def pay(monkeypatch):
    fake = FakePayments()
    monkeypatch.setattr(booking, "_payments", lambda: fake)
    return fake


@pytest.fixture
def world(api, clock, pay, drain):
    admin = make_admin(api)
    doctor = make_doctor(api, admin)
    alice = make_patient(api, with_family=True)
    bob = make_patient(api)
    bind(api, doctor, alice, 0)
    bind(api, doctor, alice, 1)
    bind(api, doctor, bob, 0)
    drain()  # binding.activated → eligibility projection
    return {"admin": admin, "doctor": doctor, "alice": alice, "bob": bob}


def publish(api, doctor, **over):
    r = api.post("/v1/doctor/booking/sessions", session_body(**over), token=doctor.token)
    assert r.status == 201, r.body
    return r.body


def book(api, user, session_id, profile=0):
    return api.post(f"/v1/booking/sessions/{session_id}/book", {"profile_id": user.profiles[profile]},
                    token=user.token)


def fire_timers(clock, drain, **advance):
    clock.advance(**advance)
    timers.sweep()
    return drain()


def test_book_pay_confirm(api, world, pay, drain):
    doctor, alice = world["doctor"], world["alice"]
    s = publish(api, doctor)
    r = book(api, alice, s["session_id"])
    assert r.status == 201, r.body
    b = r.body
    assert b["status"] == "held" and b["order_id"] and b["amount_fen"] == 5000
    sess = api.get(f"/v1/booking/sessions/{s['session_id']}", token=alice.token).body
    assert (sess["seats_taken"], sess["held"], sess["confirmed"], sess["seats_left"]) == (1, 1, 0, 1)
    pay.pay(b["order_id"])
    assert "booking.confirmed" in drain()
    b = api.get(f"/v1/booking/bookings/{b['booking_id']}", token=alice.token).body
    assert b["status"] == "confirmed"
    sess = api.get(f"/v1/booking/sessions/{s['session_id']}", token=alice.token).body
    assert (sess["seats_taken"], sess["held"], sess["confirmed"]) == (1, 0, 1)
