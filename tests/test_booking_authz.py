"""Booking authorization matrix: the patient account (and its family profile), another patient,
the booking's doctor, another doctor, an operator — for every booking route with an object.
(Anonymous/forged tokens → 401 and wrong roles → 403 are covered for every route generically in
tests/test_authz_matrix.py.)"""

from tests.bindings_support import bind
from tests.booking_support import book, publish
from tests.doctors_support import make_admin, make_doctor, make_patient


def test_booking_routes_matrix(api, clock, pay, drain):
    admin = make_admin(api)
    doctor, other_doctor = make_doctor(api, admin), make_doctor(api, admin)
    alice, bob = make_patient(api, with_family=True), make_patient(api)
    bind(api, doctor, alice, 0)
    bind(api, doctor, alice, 1)
    bind(api, doctor, bob, 0)
    drain()
    s = publish(api, doctor, capacity=3, fee_fen=0)
    sid = s["session_id"]
    mine = book(api, alice, sid, 0).body
    family = book(api, alice, sid, 1).body  # booked by the same account for the child's profile
    bid = family["booking_id"]

    def st(method, path, user, body=None, **kw):
        return api.call(method, path, body if body is not None else {}, token=user.token, **kw).status

    # one booking: its account (incl. a family profile's booking), its doctor, operators; 404 to others
    for user, want in ((alice, 200), (bob, 404), (doctor, 200), (other_doctor, 404), (admin, 200)):
        assert st("GET", f"/v1/booking/bookings/{bid}", user) == want, user
        assert st("GET", f"/v1/booking/bookings/{mine['booking_id']}", user) == want, user
    # my bookings lists only the account's own (both profiles)
    ids = {b["booking_id"] for b in api.get("/v1/booking/bookings", token=alice.token).body["items"]}
    assert ids == {mine["booking_id"], bid}
    assert api.get("/v1/booking/bookings", token=bob.token).body["items"] == []
    # patient-only actions on the booking: another patient 404, doctors/operators 403 (role)
    png = {"headers": {"Accept": "image/png"}}
    ics = {}
    for path, kw in ((f"/v1/booking/bookings/{bid}/checkin.png", png), (f"/v1/booking/bookings/{bid}/calendar.ics", ics)):
        assert st("GET", path, bob, **kw) == 404
        assert st("GET", path, doctor, **kw) == 403
        assert st("GET", path, admin, **kw) == 403
        assert st("GET", path, alice, **kw) == 200
    assert st("POST", f"/v1/booking/bookings/{bid}/cancel", bob) == 404
    assert st("POST", f"/v1/booking/bookings/{bid}/cancel", doctor) == 403
    # booking someone else's profile is refused without revealing it
    assert st("POST", f"/v1/booking/sessions/{sid}/book", bob, {"profile_id": alice.profiles[0]}) == 422
    # session management: only its doctor; operators may read the roster
    for user, want in ((other_doctor, 404), (alice, 403), (admin, 403)):
        assert st("PATCH", f"/v1/doctor/booking/sessions/{sid}", user, {"room": "x"}) == want
        assert st("POST", f"/v1/doctor/booking/sessions/{sid}/cancel", user, {"reason": "x"}) == want
    for user, want in ((doctor, 200), (other_doctor, 404), (admin, 200), (alice, 403)):
        assert st("GET", f"/v1/doctor/booking/sessions/{sid}/bookings", user) == want
    assert st("GET", f"/v1/booking/sessions/{sid}", other_doctor) == 404
    assert st("GET", f"/v1/booking/sessions/{sid}", bob) == 200
    # attendance: only the booking's doctor
    assert st("POST", f"/v1/doctor/booking/bookings/{bid}/attendance", other_doctor, {"status": "no_show"}) == 404
    from chalicelib.booking import service as booking

    assert st("POST", "/v1/doctor/booking/checkin", other_doctor, {"code": booking.checkin_code(bid)}) == 404
    # requests: each doctor sees and answers only their own; patients see only their own
    today = clock.now().astimezone(booking.clock.SHANGHAI).date().isoformat()
    r = api.post("/v1/booking/requests", {"doctor_id": doctor.account_id, "profile_id": alice.profiles[1],
                                          "date_from": today, "date_to": today, "reason": "复查"}, token=alice.token)
    assert r.status == 201
    rid = r.body["request_id"]
    assert st("POST", f"/v1/doctor/booking/requests/{rid}/decline", other_doctor, {"reason": "x"}) == 404
    assert st("POST", f"/v1/doctor/booking/requests/{rid}/accept", other_doctor, {"session_id": sid}) == 404
    assert api.get("/v1/doctor/booking/demand", token=other_doctor.token).body["open_requests"] == []
    assert len(api.get("/v1/doctor/booking/demand", token=doctor.token).body["open_requests"]) == 1
    assert api.get("/v1/booking/requests", token=bob.token).body["items"] == []
    # a doctor cannot assign another doctor's session
    other_s = publish(api, other_doctor)
    assert st("POST", f"/v1/doctor/booking/requests/{rid}/accept", doctor, {"session_id": other_s["session_id"]}) == 404
    # waitlist entries: only their account removes them
    full = publish(api, doctor, capacity=1, fee_fen=0)
    book(api, alice, full["session_id"], 0)
    w = api.post(f"/v1/booking/sessions/{full['session_id']}/waitlist", {"profile_id": bob.profiles[0]},
                 token=bob.token).body
    assert st("DELETE", f"/v1/booking/sessions/{full['session_id']}/waitlist/{w['entry_id']}", alice) == 404
    assert st("DELETE", f"/v1/booking/sessions/{full['session_id']}/waitlist/{w['entry_id']}", bob) == 200
