"""Booking routes: book a seat (hold + order + outbox) and a doctor's open sessions."""

from bench.harness import Scenario
from chalicelib.accounts import service as accounts
from tests.bindings_support import visit
from tests.booking_support import session_body

N = 30
_state: dict = {}


def _setup(env):
    api = env.api
    admin = api.login(env.next_phone())
    accounts.set_role(admin.account_id, "admin")
    admin = api.relogin(admin)
    doctor = api.login(env.next_phone())
    api.post("/v1/doctor/application", {"name": "钱医生", "hospital": "协和", "department": "心内科",
                                        "title": "chief", "licence_no": "LIC87654321"}, token=doctor.token)
    api.post(f"/v1/admin/doctors/{doctor.account_id}/verify", token=admin.token)
    doctor = api.relogin(doctor)
    patients = []
    from chalicelib.booking import service as booking

    for _ in range(N):
        p = api.login(env.next_phone())
        r = api.post("/v1/me/profiles", {"relation": "self", "real_name": "患者", "gender": "male",
                                         "birth_date": "1975-01-01"}, token=p.token)
        p.profiles.append(r.body["profile_id"])
        code = api.post("/v1/doctor/codes/live", token=doctor.token).body["code"]
        api.post("/v1/bindings", visit(code, p.profiles[0]), token=p.token)
        booking.refresh_eligibility(doctor.account_id, p.profiles[0])  # what the binding.activated consumer does
        patients.append(p)
    sessions = [api.post("/v1/doctor/booking/sessions", session_body(capacity=N + 5), token=doctor.token).body
                for _ in range(3)]
    _state.update(doctor=doctor, patients=patients, session_id=sessions[0]["session_id"], i=0)
    return _state


def _book(env, st):
    p = st["patients"][st["i"]]
    st["i"] += 1
    return env.api.post(f"/v1/booking/sessions/{st['session_id']}/book", {"profile_id": p.profiles[0]},
                        token=p.token).status


SCENARIOS = [
    Scenario("POST /v1/booking/sessions/{id}/book (hold + order + outbox)", {"TransactWriteItems": 2, "total": 4},
             _setup, _book, iterations=N),
    Scenario("GET /v1/doctors/{id}/booking/sessions", {"Query": 1, "total": 1}, lambda env: _state,
             lambda env, st: env.api.get(f"/v1/doctors/{st['doctor'].account_id}/booking/sessions?limit=20",
                                         token=st["patients"][0].token).status),
]
