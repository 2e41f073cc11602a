"""Binding routes: scan of a live code, the doctor's patient list, the patient's doctors."""

from bench.harness import Scenario
from chalicelib.accounts import service as accounts
from tests.bindings_support import visit


def _world(env):
    admin = env.api.login(env.next_phone())
    accounts.set_role(admin.account_id, "admin")
    admin = env.api.relogin(admin)
    doctor = env.api.login(env.next_phone())
    env.api.post("/v1/doctor/application", {"name": "周医生", "hospital": "协和", "department": "心内科",
                                            "title": "chief", "licence_no": "LIC12345678"}, token=doctor.token)
    env.api.post(f"/v1/admin/doctors/{doctor.account_id}/verify", token=admin.token)
    doctor = env.api.relogin(doctor)
    patients = []
    for _ in range(40):
        p = env.api.login(env.next_phone())
        r = env.api.post("/v1/me/profiles", {"relation": "self", "real_name": "患者", "gender": "female",
                                             "birth_date": "1970-01-01"}, token=p.token)
        p.profiles.append(r.body["profile_id"])
        patients.append(p)
    return {"doctor": doctor, "patients": patients, "i": 0}


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
    Scenario("GET /v1/bindings (my doctors)", {"Query": 1, "total": 1}, lambda env: _state,
             lambda env, st: env.api.get("/v1/bindings", token=st["patients"][0].token).status),
]
