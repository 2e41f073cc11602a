"""Authorization matrix.

Generic part, over every registered route (so new routes are covered automatically):
anonymous and forged tokens get 401 on every authenticated route; a role outside a route's
roles gets 403. Object part for accounts and doctors: another user's objects are 404.
Domains add their own object-level matrices next to their tests.
"""

import re

import pytest

import app  # noqa: F401  (registers every route)
from chalicelib.core.http import ROUTES
from chalicelib.core.ids import new_id
from tests.doctors_support import make_admin, make_doctor, make_patient

AUTHED = [s for s in ROUTES if s.auth]
ROLE_LIMITED = [s for s in ROUTES if s.auth and s.roles]


def _path(spec):
    return re.sub(r"{\w+}", new_id(), spec.path)


@pytest.mark.parametrize("spec", AUTHED, ids=lambda s: f"{s.method} {s.path}")
def test_anonymous_and_forged_tokens_get_401(api, spec):
    assert api.call(spec.method, _path(spec), {}).status == 401
    assert api.call(spec.method, _path(spec), {}, token="not-a-token").status == 401


@pytest.mark.parametrize("spec", ROLE_LIMITED, ids=lambda s: f"{s.method} {s.path}")
def test_wrong_role_gets_403(api, spec):
    users = {"patient": lambda: api.login("13600000001"), "admin": lambda: make_admin(api),
             "doctor": lambda: make_doctor(api)}
    for role, make in users.items():
        if role in spec.roles:
            continue
        r = api.call(spec.method, _path(spec), {}, token=make().token)
        assert r.status == 403, (role, r.body)
        assert r.error_code == "wrong_role"
        break


def test_profiles_of_another_account_are_404(api):
    alice = make_patient(api, with_family=True)
    bob = make_patient(api)
    for pid in alice.profiles:
        assert api.get(f"/v1/me/profiles/{pid}", token=bob.token).status == 404
        assert api.patch(f"/v1/me/profiles/{pid}", {"real_name": "x"}, token=bob.token).status == 404
        assert api.get(f"/v1/me/profiles/{pid}", token=alice.token).status == 200
    assert all(p["profile_id"] in bob.profiles for p in api.get("/v1/me/profiles", token=bob.token).body["items"])


def test_doctor_application_admin_routes(api):
    admin = make_admin(api)
    doctor = make_doctor(api, admin)
    patient = make_patient(api)
    other_doctor = make_doctor(api, admin)
    for user in (patient, doctor, other_doctor):
        assert api.get(f"/v1/admin/doctors/{doctor.account_id}", token=user.token).status == 403
        assert api.post(f"/v1/admin/doctors/{doctor.account_id}/verify", token=user.token).status == 403
    assert api.get(f"/v1/admin/doctors/{doctor.account_id}", token=admin.token).status == 200
    # a patient who never applied has no application
    assert api.get("/v1/doctor/application", token=patient.token).status == 404
    # only verified doctors edit a profile, and only their own (the caller's id is the key)
    assert api.patch("/v1/doctor/profile", {"bio": "x"}, token=patient.token).status == 403
    r = api.patch("/v1/doctor/profile", {"bio": "mine"}, token=other_doctor.token)
    assert r.status == 200 and r.body["doctor_id"] == other_doctor.account_id
    assert api.get(f"/v1/doctors/{doctor.account_id}").body["bio"] is None
