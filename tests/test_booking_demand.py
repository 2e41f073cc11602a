"""The 加号 demand view through the HTTP API: weighting over day×part slots, parts of day,
sessions / free seats / waitlists per slot, requests living until their range ends with a
reminder before they lapse, patients' names, pages of open requests, who may see it, and an
items-read budget that does not grow with the requests ever made."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from chalicelib.booking import guards
from chalicelib.booking.models import BookingLock, Session, SlotRequest, WaitlistEntry
from chalicelib.booking.timing import REQUEST_TIMER
from chalicelib.core import timers
from chalicelib.core.crypto import seal
from chalicelib.core.ids import new_id
from tests.booking_support import book, publish
from tests.doctors_support import make_patient
from tests.support import count_ddb_calls, count_items_read
from tests.test_booking import fire_timers, fresh, world  # noqa: F401  (world is a fixture)

START = date(2026, 11, 20)  # the clock fixture's day in Asia/Shanghai (10:00)
LONG_AGO = datetime(2026, 1, 1, tzinfo=UTC)


def day(n: int) -> str:
    return (START + timedelta(days=n)).isoformat()


def ask(api, user, doctor, profile=0, *, first=1, last=1, parts=None, reason="想复查血压", **extra):
    body = {"doctor_id": doctor.account_id, "profile_id": user.profiles[profile], "date_from": day(first),
            "date_to": day(last), "reason": reason, **extra}
    if parts is not None:
        body["parts"] = parts
    r = api.post("/v1/booking/requests", body, token=user.token)
    assert r.status == 201, r.body
    return r.body


def view(api, doctor, **q):
    qs = "&".join(f"{k}={v}" for k, v in q.items())
    r = api.get(f"/v1/doctor/booking/demand{'?' + qs if qs else ''}", token=doctor.token)
    assert r.status == 200, r.body
    return r.body


def slot(v, n, part):
    d = next(x for x in v["days"] if x["date"] == day(n))
    return next(p for p in d["parts"] if p["part"] == part)


def the_day(v, n):
    return next(x for x in v["days"] if x["date"] == day(n))


def test_weighting_over_days_and_parts(api, world, drain):
    doctor, alice, bob = world["doctor"], world["alice"], world["bob"]
    a = ask(api, alice, doctor, 0, first=1, last=2, parts=["morning"])  # 2 slots: ½ each
    c = ask(api, alice, doctor, 1, first=1, last=1)  # any part of one day: ⅓ each
    b = ask(api, bob, doctor, 0, first=1, last=2, parts=["afternoon", "evening"])  # 4 slots: ¼ each
    assert a["parts"] == ["morning"] and c["parts"] == ["morning", "afternoon", "evening"]
    assert b["parts"] == ["afternoon", "evening"]
    v = view(api, doctor, days=7)
    assert (v["date_from"], v["date_to"], len(v["days"])) == (day(0), day(6), 7)
    assert (slot(v, 1, "morning")["weighted_demand"], slot(v, 1, "morning")["patients"]) == (0.83, 2)
    assert (slot(v, 1, "afternoon")["weighted_demand"], slot(v, 1, "afternoon")["patients"]) == (0.58, 2)
    assert (slot(v, 1, "evening")["weighted_demand"], slot(v, 1, "evening")["patients"]) == (0.58, 2)
    assert (slot(v, 2, "morning")["weighted_demand"], slot(v, 2, "afternoon")["weighted_demand"]) == (0.5, 0.25)
    assert (the_day(v, 1)["requests"], the_day(v, 1)["weighted_demand"]) == (3, 2.0)
    assert (the_day(v, 2)["requests"], the_day(v, 2)["weighted_demand"]) == (2, 1.0)
    assert the_day(v, 0)["weighted_demand"] == 0 and the_day(v, 3)["requests"] == 0
    # every request counts one in total, however wide it is
    assert round(sum(d["weighted_demand"] for d in v["days"]), 2) == 3.0
    # closing takes exactly its share away: withdraw, decline, accept
    assert api.post(f"/v1/booking/requests/{b['request_id']}/withdraw", token=bob.token).body["status"] == "withdrawn"
    v = view(api, doctor, days=7)
    assert slot(v, 1, "afternoon")["weighted_demand"] == 0.33 and slot(v, 2, "evening")["patients"] == 0
    r = api.post(f"/v1/doctor/booking/requests/{c['request_id']}/decline", {"reason": "本周已满"}, token=doctor.token)
    assert r.status == 200
    s = publish(api, doctor, audience="invited", date=day(2), fee_fen=0)
    r = api.post(f"/v1/doctor/booking/requests/{a['request_id']}/accept", {"session_id": s["session_id"]},
                 token=doctor.token)
    assert r.status == 201, r.body
    v = view(api, doctor, days=7)
    assert all(p["weighted_demand"] == 0 and p["patients"] == 0 for d in v["days"] for p in d["parts"])
    assert all(d["requests"] == 0 for d in v["days"]) and v["open_requests"] == []


def test_sessions_free_seats_and_waitlist_per_slot(api, world, drain):
    doctor, alice, bob = world["doctor"], world["alice"], world["bob"]
    morning = publish(api, doctor, capacity=1, fee_fen=0)  # day 3, 09:00
    afternoon = publish(api, doctor, capacity=4, start_time="14:00", end_time="16:00")
    evening = publish(api, doctor, capacity=2, start_time="18:30", end_time="20:00")
    gone = publish(api, doctor, capacity=5, start_time="15:00", end_time="16:00")
    api.post(f"/v1/doctor/booking/sessions/{gone['session_id']}/cancel", {"reason": "停诊"}, token=doctor.token)
    assert book(api, alice, morning["session_id"]).status == 201
    assert book(api, alice, afternoon["session_id"], 1).status == 201
    w = api.post(f"/v1/booking/sessions/{morning['session_id']}/waitlist", {"profile_id": bob.profiles[0]},
                 token=bob.token)
    assert w.status == 201
    drain()
    v = view(api, doctor, days=5)
    m, a, e = slot(v, 3, "morning"), slot(v, 3, "afternoon"), slot(v, 3, "evening")
    assert [s["session_id"] for s in m["sessions"]] == [morning["session_id"]]
    assert (m["capacity"], m["seats_left"], m["waitlisted"]) == (1, 0, 1)
    assert m["sessions"][0]["seats_taken"] == 1 and m["sessions"][0]["waitlisted"] == 1
    assert [s["session_id"] for s in a["sessions"]] == [afternoon["session_id"]]  # the cancelled one is not offered
    assert (a["capacity"], a["seats_left"], a["waitlisted"]) == (4, 3, 0)
    assert (e["capacity"], e["seats_left"]) == (2, 2) and e["sessions"][0]["session_id"] == evening["session_id"]
    assert e["sessions"][0]["starts_at"].endswith("18:30:00+08:00")
    assert (the_day(v, 3)["seats_left"], the_day(v, 3)["waitlisted"]) == (5, 1)
    assert slot(v, 2, "morning")["sessions"] == []
    # leaving the waitlist counts down once; a second leave is 404 and counts nothing
    path = f"/v1/booking/sessions/{morning['session_id']}/waitlist/{w.body['entry_id']}"
    assert api.delete(path, token=bob.token).status == 200
    assert api.delete(path, token=bob.token).status == 404
    assert slot(view(api, doctor, days=5), 3, "morning")["waitlisted"] == 0
    # a freed seat offered to the next waiter counts the waitlist down in the same transaction
    api.post(f"/v1/booking/sessions/{morning['session_id']}/waitlist", {"profile_id": bob.profiles[0]},
             token=bob.token)
    drain()
    assert slot(view(api, doctor, days=5), 3, "morning")["waitlisted"] == 1
    mine = api.get("/v1/booking/bookings", token=alice.token).body["items"]
    first = next(b for b in mine if b["session_id"] == morning["session_id"])
    assert api.post(f"/v1/booking/bookings/{first['booking_id']}/cancel", token=alice.token).status == 200
    assert "booking.confirmed" in drain()  # bob took the seat (free session)
    m = slot(view(api, doctor, days=5), 3, "morning")
    assert (m["seats_left"], m["waitlisted"]) == (0, 0)


def test_sessions_from_before_the_waitlist_counter_still_show_their_waitlist(api, world, drain):
    """Data written before this change: a session without ``waiting`` and entries without
    ``counted`` (as the seed's and every earlier session have) — counted from the entries."""
    doctor, alice, bob = world["doctor"], world["alice"], world["bob"]
    s = publish(api, doctor, capacity=1, fee_fen=0)
    book(api, alice, s["session_id"])
    Session(s["session_id"]).update(actions=[Session.waiting.remove()])
    r = api.post(f"/v1/booking/sessions/{s['session_id']}/waitlist", {"profile_id": bob.profiles[0]}, token=bob.token)
    assert r.status == 201
    assert WaitlistEntry.get(s["session_id"], r.body["entry_id"]).counted is None
    assert slot(view(api, doctor, days=5), 3, "morning")["waitlisted"] == 1
    assert api.delete(f"/v1/booking/sessions/{s['session_id']}/waitlist/{r.body['entry_id']}",
                      token=bob.token).status == 200
    assert slot(view(api, doctor, days=5), 3, "morning")["waitlisted"] == 0
    assert Session.get(s["session_id"]).waiting is None


def test_request_lives_until_its_range_ends_with_a_reminder_before_it_lapses(api, world, clock, drain):
    doctor, alice, bob = world["doctor"], world["alice"], world["bob"]
    r = ask(api, alice, doctor, 0, first=0, last=5, parts=["evening"])
    assert r["expires_at"] == f"{day(6)}T00:00:00+08:00"
    w = ask(api, bob, doctor, 0, first=0, last=5)
    # 72 h later (the old expiry) both are still open and still counted on the days left
    assert "booking.request_expired" not in fire_timers(clock, drain, hours=73)
    doctor, alice, bob = fresh(api, world)
    v = view(api, doctor, days=3)
    assert v["date_from"] == day(3) and [x["request_id"] for x in v["open_requests"]] == [r["request_id"],
                                                                                          w["request_id"]]
    assert slot(v, 3, "evening")["patients"] == 2 and slot(v, 3, "morning")["patients"] == 1
    # bob withdraws on day 3: only the days from today on are taken away; his reminder is cancelled
    assert api.post(f"/v1/booking/requests/{w['request_id']}/withdraw", token=bob.token).status == 200
    assert api.post(f"/v1/booking/requests/{w['request_id']}/withdraw", token=bob.token).status == 409
    assert slot(view(api, doctor, days=3), 5, "morning")["patients"] == 0
    # 09:00 on the last day: alice is reminded, once (bob's reminder never fires)
    clock.current = clock.current.replace(day=25, hour=1, minute=0)  # 2026-11-25 09:00 Asia/Shanghai
    events = fire_timers(clock, drain, minutes=1)
    assert events.count("booking.request_lapsing") == 1
    doctor, alice, bob = fresh(api, world)
    got = [n for n in api.get("/v1/notifications", token=alice.token).body["items"]
           if n["event_type"] == "booking.request_lapsing"]
    assert len(got) == 1 and got[0]["title"] == "加号申请即将到期" and "2026-11-26 00:00" in got[0]["body"]
    assert got[0]["link"] == {"type": "booking_request", "id": r["request_id"]}
    assert not [n for n in api.get("/v1/notifications", token=bob.token).body["items"]
                if n["event_type"] == "booking.request_lapsing"]
    # a redelivered timer event reminds once
    from chalicelib.booking import slot_requests

    for _ in range(2):
        slot_requests._on_request_reminder("E-redelivered", {"request_id": r["request_id"]})
    assert drain().count("booking.request_lapsing") == 1
    # still open until the range ends, then it lapses by its durable timer
    assert "booking.request_expired" not in fire_timers(clock, drain, hours=14)
    assert "booking.request_expired" in fire_timers(clock, drain, hours=1)
    doctor, alice, bob = fresh(api, world)
    assert api.get("/v1/booking/requests", token=alice.token).body["items"][0]["status"] == "expired"
    assert view(api, doctor)["open_requests"] == []


def test_reminder_only_when_the_last_day_is_still_ahead(api, world, clock, drain):
    """A request for today only (asked after 09:00) lapses tonight without a reminder timer."""
    doctor, alice = world["doctor"], world["alice"]
    r = ask(api, alice, doctor, 0, first=0, last=0)
    assert SlotRequest.get(r["request_id"]).reminder_timer is None
    assert "booking.request_lapsing" not in fire_timers(clock, drain, hours=13, minutes=59)
    assert "booking.request_expired" in fire_timers(clock, drain, minutes=2)


def test_open_requests_show_names_reasons_attachments_and_page_without_a_cap(api, world, drain):
    doctor, alice, bob = world["doctor"], world["alice"], world["bob"]
    carol = make_patient(api)
    from tests.bindings_support import bind

    bind(api, doctor, carol, 0)
    drain()
    ask(api, alice, doctor, 0, first=1, last=3, reason="术后复查", attachment_ids=["att-1", "att-2"])
    ask(api, alice, doctor, 1, first=2, last=2, reason="孩子发烧")
    ask(api, bob, doctor, 0, first=4, last=9, parts=["morning"])
    ask(api, carol, doctor, 0, first=20, last=25)  # starts after the days shown: not listed
    profiles = {pid: p["real_name"] for u in (alice, bob) for p in api.get("/v1/me/profiles", token=u.token).body["items"]
                for pid in [p["profile_id"]]}
    v = view(api, doctor, days=14, limit=2)
    first = v["open_requests"]
    assert [x["date_from"] for x in first] == [day(1), day(2)] and v["next_cursor"]
    assert first[0]["reason"] == "术后复查" and first[0]["attachment_ids"] == ["att-1", "att-2"]
    assert all(x["patient_name"] == profiles[x["profile_id"]] for x in first)
    assert first[0]["patient_name"] != first[0]["profile_id"]
    v2 = view(api, doctor, days=14, limit=2, cursor=v["next_cursor"])
    assert [x["date_from"] for x in v2["open_requests"]] == [day(4)] and v2["next_cursor"] is None
    assert v2["open_requests"][0]["parts"] == ["morning"]
    assert view(api, doctor, days=30)["open_requests"][-1]["date_from"] == day(20)
    # a later first day leaves out requests that end before it
    later = view(api, doctor, days=3, date_from=day(5))
    assert [x["date_from"] for x in later["open_requests"]] == [day(4)]


def test_bad_queries_are_400(api, world):
    doctor = world["doctor"]
    for q in ("days=0", "days=61", f"date_from={day(-1)}", "limit=101", "date_from=x", "cursor=abc"):
        r = api.get(f"/v1/doctor/booking/demand?{q}", token=doctor.token)
        assert r.status == 400, (q, r.body)
    bad = {"doctor_id": doctor.account_id, "profile_id": world["alice"].profiles[0], "date_from": day(1),
           "date_to": day(1), "reason": "x", "parts": ["night"]}
    assert api.post("/v1/booking/requests", bad, token=world["alice"].token).status in (400, 422)


def test_only_the_doctor_sees_their_demand(api, world, drain):
    from tests.doctors_support import make_doctor

    doctor, alice, bob, admin = world["doctor"], world["alice"], world["bob"], world["admin"]
    other = make_doctor(api, admin)
    r = ask(api, alice, doctor, 0, first=1, last=1)
    assert len(view(api, doctor)["open_requests"]) == 1
    theirs = view(api, other)
    assert theirs["open_requests"] == [] and all(d["requests"] == 0 for d in theirs["days"])
    for user in (alice, admin):
        assert api.get("/v1/doctor/booking/demand", token=user.token).status == 403
    # withdrawing: only the request's own account; doctors and operators are refused by role
    path = f"/v1/booking/requests/{r['request_id']}/withdraw"
    assert api.post(path, token=bob.token).status == 404
    assert api.post(f"/v1/booking/requests/{new_id()}/withdraw", token=bob.token).status == 404
    assert api.post(path, token=doctor.token).status == 403
    assert api.post(path, token=admin.token).status == 403
    assert api.post(path, token=alice.token).status == 200
    assert api.post(f"/v1/doctor/booking/requests/{r['request_id']}/decline", {"reason": "x"},
                    token=doctor.token).status == 409


@pytest.mark.parametrize("days", [7, 30])
def test_reads_do_not_grow_with_historical_requests(api, world, drain, days):
    doctor, alice, bob = world["doctor"], world["alice"], world["bob"]
    ask(api, alice, doctor, 0, first=1, last=5)
    ask(api, bob, doctor, 0, first=2, last=3, parts=["morning"])
    publish(api, doctor)

    def history(n):  # requests answered long ago: closed, never shown
        with SlotRequest.batch_write() as batch:
            for i in range(n):
                rid = new_id()
                status = ("declined", "expired", "accepted", "withdrawn")[i % 4]
                batch.save(SlotRequest(rid, doctor_id=doctor.account_id, account_id=alice.account_id,
                                       profile_id=alice.profiles[0], status=status,
                                       status_key=f"{status}#{day(i % 40 - 20)}#{rid}", date_from=day(i % 40 - 20),
                                       date_to=day(i % 40 - 18), reason_sealed="x", created_at=LONG_AGO,
                                       expires_at=LONG_AGO))

    def measure():
        with count_items_read() as reads, count_ddb_calls() as calls:
            v = view(api, doctor, days=days)
        return reads["items"], reads["queries"], calls, v

    history(10)
    small = measure()
    history(400)
    large = measure()
    assert small[:2] == large[:2], (small[:2], large[:2])
    items, queries, calls, v = large
    # one counter item per day with demand (≤ days), the sessions shown, the open requests shown
    assert items <= days + 1 + 2 and queries == 3, (items, queries)
    assert "Scan" not in calls and calls.count("Query") == 3 and calls.count("BatchGetItem") <= 1
    assert len(v["open_requests"]) == 2


def test_requests_from_before_the_counters_are_listed_and_close_cleanly(api, world, drain):
    """A request stored before this change (no parts, no weight, no reminder; 72 h expiry) is
    listed, reads as 'any part', and closing it takes nothing off counters it never added to."""
    doctor, alice, bob = world["doctor"], world["alice"], world["bob"]
    ask(api, bob, doctor, 0, first=1, last=1, parts=["morning"])
    rid = new_id()
    SlotRequest(rid, doctor_id=doctor.account_id, account_id=alice.account_id, profile_id=alice.profiles[0],
                status="open", status_key=f"open#{day(1)}#{rid}", date_from=day(1), date_to=day(2),
                reason_sealed=seal("旧申请"), created_at=LONG_AGO, expires_at=datetime(2026, 11, 23, tzinfo=UTC)).save()
    BookingLock(guards.req_key(doctor.account_id, alice.profiles[0]), ref_id=rid).save()
    timers.schedule(REQUEST_TIMER, datetime(2026, 11, 23, tzinfo=UTC), {"request_id": rid}, key=rid)
    v = view(api, doctor)
    old = next(x for x in v["open_requests"] if x["request_id"] == rid)
    assert old["parts"] == ["morning", "afternoon", "evening"] and old["reason"] == "旧申请"
    assert slot(v, 1, "morning")["patients"] == 1  # only bob's, counted when made
    r = api.post(f"/v1/doctor/booking/requests/{rid}/decline", {"reason": "本周已满"}, token=doctor.token)
    assert r.status == 200, r.body
    v = view(api, doctor)
    assert (slot(v, 1, "morning")["patients"], slot(v, 1, "morning")["weighted_demand"]) == (1, 1.0)
