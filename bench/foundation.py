"""Foundation routes: authorizer, directory, me."""

from bench.harness import Scenario
from chalicelib.accounts import service as accounts


def _patient(env):
    return env.api.login(env.next_phone())


def _doctors(env):
    admin = env.api.login(env.next_phone())
    accounts.set_role(admin.account_id, "admin")
    admin = env.api.relogin(admin)
    for i, dept in enumerate(["心内科", "骨科", "心内科"]):
        d = env.api.login(env.next_phone())
        r = env.api.post("/v1/doctor/application", {"name": f"医生{i}", "hospital": "协和医院", "department": dept,
                                                    "title": "chief", "licence_no": f"LIC0000{i}AB"}, token=d.token)
        assert r.status == 201, r.body
        assert env.api.post(f"/v1/admin/doctors/{d.account_id}/verify", token=admin.token).status == 200
    return None


def _authorizer(env, user):
    from chalicelib.core.http import token_authorizer

    token_authorizer({"type": "TOKEN", "authorizationToken": f"Bearer {user.token}", "methodArn": "arn"}, None)
    return 200


SCENARIOS = [
    Scenario("authorizer (token verification)", {"total": 0}, _patient, _authorizer),
    Scenario("GET /v1/me", {"total": 2}, _patient, lambda env, u: env.api.get("/v1/me", token=u.token).status),
    Scenario("GET /v1/doctors", {"Query": 1, "total": 1}, _doctors,
             lambda env, _: env.api.get("/v1/doctors?limit=20").status),
    Scenario("GET /v1/doctors?hospital=&department=", {"Query": 1, "total": 1}, lambda env: None,
             lambda env, _: env.api.get("/v1/doctors?hospital=协和医院&department=心内科").status),
    Scenario("GET /v1/doctors?q=", {"Query": 1, "total": 1}, lambda env: None,
             lambda env, _: env.api.get("/v1/doctors?q=医生1").status),
]
