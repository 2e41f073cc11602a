"""Booking (加号) through the HTTP API: publish, book, pay, expire, cancel, waitlist, requests,
attendance, QR/ics, reminders, timezone edges and call budgets."""


from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.booking import service as booking
from chalicelib.core import timers
from tests.bindings_support import bind
from tests.booking_support import book, publish
from tests.doctors_support import make_admin, make_doctor, make_patient
from tests.support import count_ddb_calls


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


def fresh(api, world):
    """Access tokens live 15 min: after moving the clock, refresh everyone's."""
    for k in ("admin", "doctor", "alice", "bob"):
        world[k] = api.relogin(world[k])
    return world["doctor"], world["alice"], world["bob"]


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


def _session(api, user, sid):
    return api.get(f"/v1/booking/sessions/{sid}", token=user.token).body


def _booking(api, user, bid):
    return api.get(f"/v1/booking/bookings/{bid}", token=user.token).body


def test_hold_expiry_releases_the_seat_once(api, world, pay, clock, drain):
    doctor, alice = world["doctor"], world["alice"]
    s = publish(api, doctor, capacity=1)
    b = book(api, alice, s["session_id"]).body
    assert book(api, world["bob"], s["session_id"]).error_code == "session_full"
    # payments closes the order at its expiry; our own timer fires a minute later: one release only
    clock.advance(minutes=15)
    pay.expire(b["order_id"])
    events = drain()
    assert events.count("booking.released") == 1
    events = fire_timers(clock, drain, minutes=2)
    assert "booking.released" not in events
    doctor, alice, bob = fresh(api, world)
    assert _booking(api, alice, b["booking_id"])["status"] == "expired"
    sess = _session(api, alice, s["session_id"])
    assert (sess["seats_taken"], sess["held"], sess["confirmed"]) == (0, 0, 0)
    assert book(api, bob, s["session_id"]).status == 201


def test_own_timer_releases_when_order_close_is_missing_and_late_payment_is_refunded(api, world, pay, clock, drain):
    doctor, alice = world["doctor"], world["alice"]
    s = publish(api, doctor, capacity=1)
    b = book(api, alice, s["session_id"]).body
    assert "booking.released" in fire_timers(clock, drain, minutes=16)
    assert pay.orders[b["order_id"]].status == "closed"  # the release closed the unpaid order
    # a payment that still lands (provider paid before the close) is refunded in full, never kept
    pay.orders[b["order_id"]].status = "created"
    pay.pay(b["order_id"])
    drain()
    assert pay.refunded_total(b["order_id"]) == 5000
    doctor, alice, bob = fresh(api, world)
    assert _booking(api, alice, b["booking_id"])["status"] == "expired"
    assert _session(api, alice, s["session_id"])["seats_taken"] == 0


def test_paid_duplicate_event_confirms_once(api, world, pay, drain):
    s = publish(api, world["doctor"])
    b = book(api, world["alice"], s["session_id"]).body
    pay.pay(b["order_id"])
    drain()
    assert booking.confirm_paid(b["booking_id"], b["order_id"]) == "duplicate"
    sess = _session(api, world["alice"], s["session_id"])
    assert (sess["seats_taken"], sess["held"], sess["confirmed"]) == (1, 0, 1)
    assert pay.refunds == {}


def test_free_session_confirms_at_once_without_an_order(api, world, pay, drain):
    s = publish(api, world["doctor"], fee_fen=0)
    r = book(api, world["alice"], s["session_id"])
    assert r.status == 201 and r.body["status"] == "confirmed" and r.body["order_id"] is None
    assert pay.orders == {}


def test_cancellation_rules(api, world, pay, clock, drain):
    doctor, alice = world["doctor"], world["alice"]
    s = publish(api, doctor, capacity=3)
    # an unpaid hold: cancel any time, its order is closed, nothing is charged
    held = book(api, alice, s["session_id"], 0).body
    r = api.post(f"/v1/booking/bookings/{held['booking_id']}/cancel", token=alice.token)
    assert r.status == 200 and r.body["status"] == "cancelled"
    drain()
    assert pay.orders[held["order_id"]].status == "closed"
    # confirmed, more than 24 h ahead: free and fully refunded
    b1 = book(api, alice, s["session_id"], 0).body
    b2 = book(api, alice, s["session_id"], 1).body
    pay.pay(b1["order_id"])
    pay.pay(b2["order_id"])
    drain()
    r = api.post(f"/v1/booking/bookings/{b1['booking_id']}/cancel", token=alice.token)
    assert r.status == 200, r.body
    drain()
    assert pay.refunded_total(b1["order_id"]) == 5000
    assert _session(api, alice, s["session_id"])["seats_taken"] == 1
    # within 24 h of the start: refused, nothing refunded, seat kept
    clock.current = datetime.fromisoformat(b2["starts_at"]).astimezone(UTC) - timedelta(hours=23)
    doctor, alice, bob = fresh(api, world)
    r = api.post(f"/v1/booking/bookings/{b2['booking_id']}/cancel", token=alice.token)
    assert r.status == 422 and r.error_code == "too_late_to_cancel"
    assert pay.refunded_total(b2["order_id"]) == 0
    # a second cancel of the same booking is a conflict, not a second refund
    r = api.post(f"/v1/booking/bookings/{b1['booking_id']}/cancel", token=alice.token)
    assert r.status == 409
    drain()
    assert pay.refunded_total(b1["order_id"]) == 5000


def test_doctor_cancels_session_refunds_paid_closes_unpaid_tells_everyone(api, world, pay, drain):
    doctor, alice, bob = world["doctor"], world["alice"], world["bob"]
    s = publish(api, doctor, capacity=2)
    paid = book(api, alice, s["session_id"], 0).body
    held = book(api, alice, s["session_id"], 1).body
    pay.pay(paid["order_id"])
    drain()
    assert api.post(f"/v1/booking/sessions/{s['session_id']}/waitlist", {"profile_id": bob.profiles[0]},
                    token=bob.token).status == 201
    drain()
    r = api.post(f"/v1/doctor/booking/sessions/{s['session_id']}/cancel", {"reason": "临时手术"}, token=doctor.token)
    assert r.status == 200 and r.body["status"] == "cancelled"
    events = drain()
    assert events.count("booking.cancelled") == 1 and events.count("booking.released") == 1
    assert "booking.waitlist_cancelled" in events
    assert pay.refunded_total(paid["order_id"]) == 5000
    assert pay.orders[held["order_id"]].status == "closed"
    for bid in (paid["booking_id"], held["booking_id"]):
        assert _booking(api, alice, bid)["status"] == "doctor_cancelled"
    sess = _session(api, alice, s["session_id"])
    assert (sess["seats_taken"], sess["held"], sess["confirmed"]) == (0, 0, 0)
    # a payment racing the cancellation is refunded, never kept
    pay.pay(held["order_id"]) if pay.orders[held["order_id"]].status == "created" else None
    assert book(api, bob, s["session_id"]).error_code == "session_closed"
    assert api.post(f"/v1/doctor/booking/sessions/{s['session_id']}/cancel", {"reason": "x"},
                    token=doctor.token).status == 409


def test_waitlist_promotion_offers_a_new_hold(api, world, pay, clock, drain):
    doctor, alice, bob = world["doctor"], world["alice"], world["bob"]
    s = publish(api, doctor, capacity=1)
    a = book(api, alice, s["session_id"]).body
    r = api.post(f"/v1/booking/sessions/{s['session_id']}/waitlist", {"profile_id": bob.profiles[0]},
                 token=bob.token)
    assert r.status == 201 and r.body["position"] == 1
    r2 = api.post(f"/v1/booking/sessions/{s['session_id']}/waitlist", {"profile_id": alice.profiles[1]},
                  token=alice.token)
    assert r2.body["position"] == 2
    assert api.post(f"/v1/booking/sessions/{s['session_id']}/waitlist", {"profile_id": bob.profiles[0]},
                    token=bob.token).error_code == "already_waitlisted"
    drain()
    # alice's hold expires: the seat goes to bob (first in line) as a new hold with its own order
    clock.advance(minutes=15)
    pay.expire(a["order_id"])
    events = drain()
    assert "booking.offered" in events
    doctor, alice, bob = fresh(api, world)
    mine = api.get("/v1/booking/bookings", token=bob.token).body["items"]
    assert len(mine) == 1 and mine[0]["status"] == "held" and mine[0]["source"] == "waitlist"
    assert mine[0]["order_id"] != a["order_id"]
    assert datetime.fromisoformat(mine[0]["hold_expires_at"]) == clock.now() + timedelta(minutes=15)
    sess = _session(api, bob, s["session_id"])
    assert (sess["seats_taken"], sess["held"]) == (1, 1)
    # bob pays and is confirmed; the next waiter still waits
    pay.pay(mine[0]["order_id"])
    drain()
    assert _booking(api, bob, mine[0]["booking_id"])["status"] == "confirmed"
    demand = api.get("/v1/doctor/booking/demand", token=doctor.token).body
    assert sum(d["waitlisted"] for d in demand["days"]) == 1


def test_at_most_two_unpaid_holds_per_account(api, world, pay, drain):
    doctor, alice = world["doctor"], world["alice"]
    s1, s2, s3 = (publish(api, doctor)["session_id"] for _ in range(3))
    first = book(api, alice, s1, 0).body
    assert book(api, alice, s2, 1).status == 201
    r = book(api, alice, s3, 0)
    assert r.status == 429 and r.error_code == "too_many_holds"
    assert _session(api, alice, s3)["seats_taken"] == 0  # the failed attempt took nothing
    assert [o.status for o in pay.orders.values()] == ["created", "created", "closed"]  # refused hold's order closed
    pay.pay(first["order_id"])
    drain()
    assert book(api, alice, s3, 0).status == 201  # paying frees a hold slot


def test_who_may_book(api, world, pay, drain):
    doctor, alice, bob = world["doctor"], world["alice"], world["bob"]
    s = publish(api, doctor)
    stranger = make_patient(api)
    r = book(api, stranger, s["session_id"])
    assert r.status == 422 and r.error_code == "not_bound"
    # another account's profile, even one bound to this doctor
    r = api.post(f"/v1/booking/sessions/{s['session_id']}/book", {"profile_id": alice.profiles[0]}, token=bob.token)
    assert r.status == 422 and r.error_code == "not_bound"
    # the same profile twice
    assert book(api, alice, s["session_id"]).status == 201
    assert book(api, alice, s["session_id"]).error_code == "already_booked"
    # a binding that ends stops booking once the event is seen
    other = publish(api, doctor)
    bid = api.get("/v1/bindings", token=bob.token).body["items"][0]["binding_id"]
    assert api.post(f"/v1/bindings/{bid}/end", token=bob.token).status == 200
    drain()
    assert book(api, bob, other["session_id"]).error_code == "not_bound"
    # invited-only sessions are not bookable directly
    inv = publish(api, doctor, audience="invited")
    assert book(api, alice, inv["session_id"]).status == 404


def test_eligibility_projection_miss_falls_back_to_bindings(api, world, pay):
    from chalicelib.booking.models import BookingLock

    doctor, alice = world["doctor"], world["alice"]
    BookingLock(f"elig#{doctor.account_id}#{alice.profiles[0]}").delete()
    s = publish(api, doctor)
    assert book(api, alice, s["session_id"]).status == 201


def test_capacity_edit_never_below_taken(api, world, pay, drain):
    doctor, alice, bob = world["doctor"], world["alice"], world["bob"]
    s = publish(api, doctor, capacity=3)
    book(api, alice, s["session_id"], 0)
    book(api, alice, s["session_id"], 1)
    r = api.patch(f"/v1/doctor/booking/sessions/{s['session_id']}", {"capacity": 1}, token=doctor.token)
    assert r.status == 409 and r.error_code == "capacity_below_taken"
    r = api.patch(f"/v1/doctor/booking/sessions/{s['session_id']}", {"capacity": 2, "room": "5诊室"},
                  token=doctor.token)
    assert r.status == 200 and r.body["capacity"] == 2 and r.body["room"] == "5诊室" and r.body["seats_left"] == 0
    assert book(api, bob, s["session_id"]).error_code == "session_full"
    # raising capacity offers the new seat to the waitlist
    api.post(f"/v1/booking/sessions/{s['session_id']}/waitlist", {"profile_id": bob.profiles[0]}, token=bob.token)
    drain()
    api.patch(f"/v1/doctor/booking/sessions/{s['session_id']}", {"capacity": 3}, token=doctor.token)
    assert "booking.offered" in drain()


def test_request_accept_decline_expire(api, world, pay, clock, drain):
    doctor, alice, bob = world["doctor"], world["alice"], world["bob"]
    today = clock.now().astimezone(booking.clock.SHANGHAI).date()
    body = {"doctor_id": doctor.account_id, "profile_id": alice.profiles[0], "date_from": today.isoformat(),
            "date_to": (today + timedelta(days=5)).isoformat(), "reason": "血压控制不佳想面诊",
            "attachment_ids": ["att1"]}
    r = api.post("/v1/booking/requests", body, token=alice.token)
    assert r.status == 201 and r.body["status"] == "open"
    assert api.post("/v1/booking/requests", body, token=alice.token).error_code == "request_exists"
    rb = api.post("/v1/booking/requests", {**body, "profile_id": bob.profiles[0]}, token=bob.token).body
    stranger = make_patient(api)
    assert api.post("/v1/booking/requests", {**body, "profile_id": stranger.profiles[0]},
                    token=stranger.token).error_code == "not_bound"
    demand = api.get("/v1/doctor/booking/demand?days=7", token=doctor.token).body
    assert len(demand["open_requests"]) == 2
    assert demand["days"][0]["requests"] == 2 and demand["days"][6]["requests"] == 0
    # accept by assigning an invited-only session: alice gets a hold (an offer) to pay
    s = publish(api, doctor, audience="invited", capacity=1)
    r = api.post(f"/v1/doctor/booking/requests/{r.body['request_id']}/accept", {"session_id": s["session_id"]},
                 token=doctor.token)
    assert r.status == 201 and r.body["status"] == "held" and r.body["source"] == "request"
    assert "booking.offered" in drain()
    mine = api.get("/v1/booking/requests", token=alice.token).body["items"][0]
    assert mine["status"] == "accepted" and mine["booking_id"] == r.body["booking_id"]
    # decline bob with a reason; he is never charged (no order was created)
    r = api.post(f"/v1/doctor/booking/requests/{rb['request_id']}/decline", {"reason": "本周已满"}, token=doctor.token)
    assert r.status == 200 and r.body["status"] == "declined" and r.body["decline_reason"] == "本周已满"
    assert not any(o.payer_account_id == bob.account_id for o in pay.orders.values())
    drain()
    assert [(c["type"], c["decline_reason"]) for c in _cards(api, bob, doctor)] == [("booking_request_declined",
                                                                                    "本周已满")]
    assert api.post(f"/v1/doctor/booking/requests/{rb['request_id']}/decline", {"reason": "x"},
                    token=doctor.token).status == 409
    # an unanswered request expires by its durable timer (72 h)
    r = api.post("/v1/booking/requests", {**body, "profile_id": alice.profiles[1]}, token=alice.token)
    assert "booking.request_expired" in fire_timers(clock, drain, hours=73)
    doctor, alice, bob = fresh(api, world)
    assert api.get("/v1/booking/requests", token=alice.token).body["items"][0]["status"] == "expired"


def test_attendance_checkin_code_qr_and_calendar(api, world, pay, clock, drain):
    from icalendar import Calendar

    doctor, alice = world["doctor"], world["alice"]
    s = publish(api, doctor, capacity=2, fee_fen=0)
    b = book(api, alice, s["session_id"]).body
    b2 = book(api, world["bob"], s["session_id"]).body
    r = api.client.http.get(f"/v1/booking/bookings/{b['booking_id']}/checkin.png",
                            headers={"Authorization": f"Bearer {alice.token}", "Accept": "image/png"})
    assert r.status_code == 200 and r.headers["Content-Type"] == "image/png"
    assert r.body[:8] == b"\x89PNG\r\n\x1a\n"
    r = api.client.http.get(f"/v1/booking/bookings/{b['booking_id']}/calendar.ics",
                            headers={"Authorization": f"Bearer {alice.token}"})  # no Accept needed: text
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/calendar")
    assert b"\r\nBEGIN:VEVENT\r\n" in r.body
    ev = Calendar.from_ical(r.body).walk("VEVENT")[0]
    assert ev.decoded("dtstart") == datetime.fromisoformat(b["starts_at"])
    assert str(ev["location"]).startswith("北京协和医院")
    code = booking.checkin_code(b["booking_id"])
    assert code.startswith(b["booking_id"])
    # too early; then check in by the scanned code; no-show only after the start
    assert api.post("/v1/doctor/booking/checkin", {"code": code}, token=doctor.token).error_code == "too_early"
    clock.current = datetime.fromisoformat(b["starts_at"]).astimezone(UTC) - timedelta(minutes=30)
    doctor, alice, bob = fresh(api, world)
    assert api.post("/v1/doctor/booking/checkin", {"code": code[:-1] + "0"}, token=doctor.token).status == 404
    r = api.post("/v1/doctor/booking/checkin", {"code": code}, token=doctor.token)
    assert r.status == 200 and r.body["status"] == "checked_in"
    r = api.post(f"/v1/doctor/booking/bookings/{b2['booking_id']}/attendance", {"status": "no_show"},
                 token=doctor.token)
    assert r.error_code == "too_early"
    clock.advance(hours=1)
    doctor, alice, bob = fresh(api, world)
    r = api.post(f"/v1/doctor/booking/bookings/{b2['booking_id']}/attendance", {"status": "no_show"},
                 token=doctor.token)
    assert r.status == 200 and r.body["status"] == "no_show"
    sess = _session(api, alice, s["session_id"])
    assert sess["seats_taken"] == 2 and sess["confirmed"] == 2


def test_session_at_0030_shanghai_dates_and_reminders(api, world, pay, clock, drain):
    """00:30 on D in Asia/Shanghai is 16:30 UTC on D-1: listed under D, reminders at UTC instants."""
    doctor, alice = world["doctor"], world["alice"]
    day = (clock.now().astimezone(booking.clock.SHANGHAI) + timedelta(days=3)).date()
    s = publish(api, doctor, date=day.isoformat(), start_time="00:30", end_time="01:00")
    assert s["date"] == day.isoformat()
    starts = datetime.fromisoformat(s["starts_at"])
    assert starts.utcoffset() == timedelta(hours=8) and s["starts_at"].startswith(f"{day.isoformat()}T00:30")
    start_utc = starts.astimezone(UTC)
    assert (start_utc.date(), start_utc.hour, start_utc.minute) == (day - timedelta(days=1), 16, 30)
    listed = api.get(f"/v1/doctors/{doctor.account_id}/booking/sessions", token=alice.token).body["items"]
    assert [x["date"] for x in listed] == [day.isoformat()]
    b = book(api, alice, s["session_id"]).body
    pay.pay(b["order_id"])
    drain()
    due = sorted(t.due for t in timers.Timer.scan() if t.kind == booking.REMINDER_TIMER)
    assert due == [timers.due_key(start_utc - timedelta(hours=24)), timers.due_key(start_utc - timedelta(hours=2))]
    # nothing fires a second early; each fires at its instant
    clock.current = start_utc - timedelta(hours=24, seconds=1)
    timers.sweep()
    assert "booking.reminder" not in drain()
    clock.current = start_utc - timedelta(hours=24)
    timers.sweep()
    assert drain().count("booking.reminder") == 1
    clock.current = start_utc - timedelta(hours=2)
    timers.sweep()
    assert drain().count("booking.reminder") == 1


def test_a_redelivered_reminder_timer_reminds_once(api, world, pay, clock, drain):
    """The reminder timer's message delivered again (its completion marker lost) publishes no
    second ``booking.reminder``: the event's id is derived from the timer message's."""
    from chalicelib.booking import bookings
    from chalicelib.core.outbox import OutboxEvent

    s = publish(api, world["doctor"], fee_fen=0)
    b = book(api, world["alice"], s["session_id"]).body
    drain()
    payload = {"booking_id": b["booking_id"], "hours_before": 24}
    bookings._on_reminder("timer-message-1", payload)
    bookings._on_reminder("timer-message-1", payload)
    assert drain().count("booking.reminder") == 1
    bookings._on_reminder("timer-message-2", payload)  # a different firing is a different reminder
    assert drain().count("booking.reminder") == 1
    assert sum(ev.type == "booking.reminder" for ev in OutboxEvent.scan()) == 2


def test_reminders_are_cancelled_with_the_booking(api, world, pay, clock, drain):
    s = publish(api, world["doctor"], fee_fen=0)
    b = book(api, world["alice"], s["session_id"]).body
    assert api.post(f"/v1/booking/bookings/{b['booking_id']}/cancel", token=world["alice"].token).status == 200
    drain()
    clock.current = datetime.fromisoformat(b["starts_at"]).astimezone(UTC)
    timers.sweep()
    assert "booking.reminder" not in drain()


def test_budgets_book_and_list(api, world, pay):
    doctor, alice = world["doctor"], world["alice"]
    s = publish(api, doctor, capacity=5)
    for _ in range(3):
        publish(api, doctor)
    with count_ddb_calls() as calls:
        r = api.get(f"/v1/doctors/{doctor.account_id}/booking/sessions?limit=20", token=alice.token)
    assert r.status == 200 and len(r.body["items"]) == 4
    assert calls == ["Query"]
    with count_ddb_calls() as calls:
        r = book(api, alice, s["session_id"])
    assert r.status == 201
    # GetItem(session) + one TransactWriteItems (seat, hold, guards, eligibility check, timer, outbox);
    # payments' create_order (≤ 2 calls by its own budget) is the fake here, so the total is ≤ 4.
    assert calls == ["GetItem", "TransactWriteItems"], calls


def _cards(api, user, doctor):
    conv = next(c for c in api.get("/v1/conversations", token=user.token).body["items"]
                if c["doctor_id"] == doctor.account_id and c["profile_id"] == user.profiles[0])
    msgs = api.get(f"/v1/conversations/{conv['conversation_id']}/messages?limit=50", token=user.token).body["items"]
    return [m["card"] for m in sorted(msgs, key=lambda m: m["seq"])  # pages come newest first
            if m["card"] and m["card"]["type"].startswith("booking_")]


def test_booking_news_reaches_the_conversation(api, world, pay, clock, drain):
    """Confirmation, a waitlist offer, a reminder and the doctor's cancellation appear as cards in
    the doctor–patient conversation; an unpaid hold that simply lapses does not."""
    doctor, alice, bob = world["doctor"], world["alice"], world["bob"]
    s = publish(api, doctor, capacity=1)
    b = book(api, alice, s["session_id"]).body
    assert api.post(f"/v1/booking/sessions/{s['session_id']}/waitlist", {"profile_id": bob.profiles[0]},
                    token=bob.token).status == 201
    pay.pay(b["order_id"])
    drain()
    assert [c["type"] for c in _cards(api, alice, doctor)] == ["booking_confirmed"]
    card = _cards(api, alice, doctor)[0]
    assert card["booking_id"] == b["booking_id"] and card["starts_at"] == b["starts_at"]

    assert api.post(f"/v1/booking/bookings/{b['booking_id']}/cancel", token=alice.token).status == 200
    drain()  # the freed seat is offered to bob with a new hold
    offer = _cards(api, bob, doctor)
    assert [c["type"] for c in offer] == ["booking_offered"] and offer[0]["hold_expires_at"]
    assert [c["type"] for c in _cards(api, alice, doctor)] == ["booking_confirmed", "booking_cancelled"]

    fire_timers(clock, drain, minutes=20)  # bob does not pay: the hold lapses quietly
    doctor, alice, bob = fresh(api, world)
    assert [c["type"] for c in _cards(api, bob, doctor)] == ["booking_offered"]

    # a confirmed booking gets its reminder; the doctor's cancellation is news with a reason
    s2 = publish(api, doctor, capacity=1)
    b2 = book(api, bob, s2["session_id"]).body
    pay.pay(b2["order_id"])
    drain()
    starts = datetime.fromisoformat(b2["starts_at"])
    fire_timers(clock, drain, seconds=(starts - timedelta(hours=24) - clock.now()).total_seconds() + 1)
    doctor, alice, bob = fresh(api, world)
    assert api.post(f"/v1/doctor/booking/sessions/{s2['session_id']}/cancel", {"reason": "临时手术"},
                    token=doctor.token).status == 200
    drain()
    types = [c["type"] for c in _cards(api, bob, doctor)]
    assert types == ["booking_offered", "booking_confirmed", "booking_reminder", "booking_cancelled"], types
    assert _cards(api, bob, doctor)[-1]["status"] == "doctor_cancelled"


def test_roster_pages(api, world):
    """The roster takes ?limit=&cursor= like every list: one Query per page, nothing capped or lost."""
    from chalicelib.core.http import Caller

    doctor, alice, bob = world["doctor"], world["alice"], world["bob"]
    s = publish(api, doctor, capacity=5)
    for user, profile in ((alice, 0), (alice, 1), (bob, 0)):
        assert book(api, user, s["session_id"], profile).status == 201
    caller = Caller(doctor.account_id, "doctor")
    seen, cursor = [], None
    while True:
        with count_ddb_calls() as calls:
            page = booking.roster(caller, s["session_id"], limit=2, cursor=cursor)
        assert calls.count("Query") == 1 and len(page.items) <= 2
        seen += [e.booking_id for e in page.items]
        cursor = page.next_cursor
        if not cursor:
            break
    assert len(seen) == len(set(seen)) == 3
