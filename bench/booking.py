"""Booking routes: book a seat (hold + order + outbox) and a doctor's open sessions."""

from bench.harness import Scenario
from tests.bindings_support import visit
from tests.booking_support import session_body
from tests.doctors_support import make_doctor, make_patient

N = 30
_state: dict = {}


def _setup(env):
    api = env.api
    doctor = make_doctor(api, name="钱医生")
    patients = []
    from chalicelib.booking import service as booking

    for _ in range(N):
        p = make_patient(api)
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
    Scenario("POST /v1/booking/sessions/{id}/book (hold + order + outbox)", {"TransactWriteItems": 2, "total": 3},
             _setup, _book, iterations=N),
    Scenario("GET /v1/doctors/{id}/booking/sessions", {"Query": 1, "total": 1}, lambda env: _state,
             lambda env, st: env.api.get(f"/v1/doctors/{st['doctor'].account_id}/booking/sessions?limit=20",
                                         token=st["patients"][0].token).status),
]
