"""The doctor's 加号 demand view with ``BENCH_DEMAND_HISTORY`` historical requests stored (100,000 by
default: answered, declined, expired and withdrawn, over past and coming dates, written directly
in batches), 20 open requests made through the API and a few sessions.

Budget: items read per call (Query ScannedCount) ≤ one counter item per day shown + the sessions
shown + one page of open requests — proportional to the days shown, flat in the history; calls:
3 Query (counters, sessions, a page of requests) + 1 BatchGetItem (names) + 1 BatchWriteItem (the
audit records of the reasons read). In-process moto answers each Query by walking every item of
the table (about 20 s a call here), so the wall times say nothing about DynamoDB; the items read are
what DynamoDB would read and bill.
"""

import os
from datetime import UTC, datetime, timedelta

from bench.harness import Scenario
from tests.bindings_support import visit
from tests.booking_support import session_body
from tests.doctors_support import make_doctor, make_patient

HISTORY = int(os.environ.get("BENCH_DEMAND_HISTORY", "100000"))
OPEN = 20
SESSIONS = 4
LIMIT = 20
_state: dict = {}


def _setup(env):
    if _state:
        return _state
    from chalicelib.booking import service as booking
    from chalicelib.booking.models import SlotRequest
    from chalicelib.core import clock
    from chalicelib.core.ids import new_id

    api = env.api
    doctor = make_doctor(api, name="郑医生")
    today = clock.now().astimezone(clock.SHANGHAI).date()
    for i in range(OPEN):
        p = make_patient(api)
        code = api.post("/v1/doctor/codes/live", token=doctor.token).body["code"]
        api.post("/v1/bindings", visit(code, p.profiles[0]), token=p.token)
        booking.refresh_eligibility(doctor.account_id, p.profiles[0])  # what the binding.activated consumer does
        first = today + timedelta(days=i % 10)
        r = api.post("/v1/booking/requests", {
            "doctor_id": doctor.account_id, "profile_id": p.profiles[0], "date_from": first.isoformat(),
            "date_to": (first + timedelta(days=i % 7)).isoformat(), "reason": "复查",
            "parts": [("morning", "afternoon", "evening", "any")[i % 4]]}, token=p.token)
        assert r.status == 201, r.body
    for i in range(SESSIONS):
        api.post("/v1/doctor/booking/sessions", session_body(date=(today + timedelta(days=2 + i)).isoformat()),
                 token=doctor.token)
    long_ago = datetime(2025, 1, 1, tzinfo=UTC)
    with SlotRequest.batch_write() as batch:
        for i in range(HISTORY):
            rid = new_id()
            status = ("accepted", "declined", "expired", "withdrawn")[i % 4]
            first = today + timedelta(days=i % 400 - 300)
            batch.save(SlotRequest(rid, doctor_id=doctor.account_id, account_id=f"acct-{i % 5000}",
                                   profile_id=f"prof-{i % 5000}", status=status,
                                   status_key=f"{status}#{first.isoformat()}#{rid}", date_from=first.isoformat(),
                                   date_to=(first + timedelta(days=i % 5)).isoformat(), reason_sealed="x",
                                   created_at=long_ago, expires_at=long_ago))
    _state.update(doctor=doctor)
    return _state


def _fresh_token(env, st):  # unmeasured: moto answers a Query over 100,000 items in seconds, so a run
    st["doctor"] = env.api.relogin(st["doctor"])  # outlives a 15-minute access token


def _view(days):
    def run(env, st):
        return env.api.get(f"/v1/doctor/booking/demand?days={days}&limit={LIMIT}", token=st["doctor"].token).status
    return run


CALLS = {"Query": 3, "BatchGetItem": 1, "BatchWriteItem": 1, "total": 5}
SCENARIOS = [
    Scenario(f"GET /v1/doctor/booking/demand?days={days} ({HISTORY} historical requests)", CALLS, _setup,
             _view(days), iterations=3, items_budget=days + SESSIONS + LIMIT,
             before=_fresh_token)
    for days in (14, 60)
]
