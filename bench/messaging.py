"""Messaging routes: send a text, a page of messages, the inbox."""

from bench.harness import Scenario
from tests.bindings_support import visit
from tests.doctors_support import make_doctor, make_patient
from tests.support import OutboxDrain

_state: dict = {}


def _setup(env):
    api = env.api
    doctor = make_doctor(api, name="孙医生", department="内分泌科")
    # enough free messages that every measured send is the patient's ordinary free-window case
    api.call("PUT", "/v1/doctor/follow-up-settings", {"free_days": 7, "free_messages": 100, "visit_window_days": 30},
             token=doctor.token)
    patient = make_patient(api)
    drain = OutboxDrain()
    drain.skip_existing()
    code = api.post("/v1/doctor/codes/live", token=doctor.token).body["code"]
    binding = api.post("/v1/bindings", visit(code, patient.profiles[0]), token=patient.token).body
    drain()  # binding.activated → the conversation, as the dispatcher would
    _state.update(doctor=doctor, patient=patient, conv=binding["binding_id"])
    return _state


def _send(env, st):
    return env.api.post(f"/v1/conversations/{st['conv']}/messages", {"text": "血压今天 130/85"},
                        token=st["patient"].token).status


def _patient_writes(env, st):
    assert _send(env, st) == 201


SCENARIOS = [
    Scenario("POST /v1/conversations/{id}/messages (text)", {"TransactWriteItems": 1, "total": 3}, _setup, _send),
    Scenario("POST /v1/conversations/{id}/read (doctor, after a new message)", {"UpdateItem": 1, "total": 2},
             lambda env: _state,
             lambda env, st: env.api.post(f"/v1/conversations/{st['conv']}/read", token=st["doctor"].token).status,
             before=_patient_writes),
    Scenario("GET /v1/conversations/{id}/messages", {"Query": 1, "total": 1}, lambda env: _state,
             lambda env, st: env.api.get(f"/v1/conversations/{st['conv']}/messages?limit=20",
                                         token=st["patient"].token).status),
    Scenario("GET /v1/conversations (doctor inbox)", {"Query": 1, "total": 1}, lambda env: _state,
             lambda env, st: env.api.get("/v1/conversations?limit=20", token=st["doctor"].token).status),
]
