"""Doctor brand test helpers: completed care through the real booking flow, or as the referral
domain will announce it (``referral.surgery_done``, the agreed payload), and reviews."""

from datetime import UTC, datetime, timedelta

from chalicelib.core import clock
from chalicelib.core.ids import new_id
from chalicelib.core.outbox import publish
from tests.bindings_support import bind
from tests.booking_support import session_body
from tests.payments_support import pay

GOOD = {"skill": 5, "attitude": 5, "explanation": 5}


def attended(api, clock_, doctor, patient, wxpay, drain, *, bound=False):
    """Bind (unless ``bound``), publish a paid 加号 session, book, pay, check in at the start.
    Returns (doctor, patient) with fresh tokens (the clock moved) and the service key."""
    if not bound:
        bind(api, doctor, patient)
        drain()
    r = api.post("/v1/doctor/booking/sessions", session_body(), token=doctor.token)
    assert r.status == 201, r.body
    b = api.post(f"/v1/booking/sessions/{r.body['session_id']}/book", {"profile_id": patient.profiles[0]},
                 token=patient.token)
    assert b.status == 201, b.body
    pay(api, wxpay, patient, b.body["order_id"])
    assert "booking.confirmed" in drain()
    clock_.current = datetime.fromisoformat(b.body["starts_at"]).astimezone(UTC) - timedelta(minutes=30)
    doctor, patient = api.relogin(doctor), api.relogin(patient)
    r = api.post(f"/v1/doctor/booking/bookings/{b.body['booking_id']}/attendance", {"status": "checked_in"},
                 token=doctor.token)
    assert r.status == 200, r.body
    assert "booking.checked_in" in drain()
    return doctor, patient, f"booking.{b.body['booking_id']}"


def surgery_done(patient, doctor, drain, case_id=None) -> str:
    """What the referral domain emits when a surgery is recorded done (agreed payload), delivered to
    brand alone (referrals' own consumer would look for the case this stand-in event has not got;
    tests/test_referrals.py drives the real event end to end)."""
    case_id = case_id or new_id()
    publish("referral.surgery_done", {"case_id": case_id, "account_id": patient.account_id,
                                      "profile_id": patient.profiles[0], "doctor_id": doctor.account_id,
                                      "done_at": clock.iso(clock.now())})
    assert "referral.surgery_done" in drain(units={"brand"})
    return f"surgery.{case_id}"


def review(api, patient, service_key, ratings=GOOD, text="医生很耐心"):
    return api.post("/v1/reviews", {"service_key": service_key, "ratings": ratings, "text": text}, token=patient.token)
