"""Binding routes: scan of a live code, the doctor's patient list, the patient's doctors."""

from bench.harness import Scenario
from tests.bindings_support import visit
from tests.doctors_support import make_doctor, make_patient


def _world(env):
    doctor = make_doctor(env.api, name="周医生")
    return {"doctor": doctor, "patients": [make_patient(env.api) for _ in range(40)], "i": 0}


_state: dict = {}


def _setup(env):
    _state.update(_world(env))
    return _state


def _live_code_setup(env):
    st = _setup(env)
    st["codes"] = [env.api.post("/v1/doctor/codes/live", token=st["doctor"].token).body["code"] for _ in range(30)]
    return st


def _scan_prepared(env, st):
    p = st["patients"][st["i"]]
    code = st["codes"][st["i"]]
    st["i"] += 1
    return env.api.post("/v1/bindings", visit(code, p.profiles[0]), token=p.token).status


SCENARIOS = [
    Scenario("POST /v1/bindings (scan live code → active)", {"TransactWriteItems": 1, "total": 4},
             _live_code_setup, _scan_prepared, iterations=30),
    Scenario("GET /v1/doctor/patients", {"Query": 1, "total": 1}, lambda env: _state,
             lambda env, st: env.api.get("/v1/doctor/patients?limit=20", token=st["doctor"].token).status),
    Scenario("GET /v1/bindings (my doctors)", {"Query": 1, "BatchGetItem": 1, "total": 2}, lambda env: _state,
             lambda env, st: env.api.get("/v1/bindings", token=st["patients"][0].token).status),
]
