"""Making admins and verified doctors through the real flows (for tests of any domain)."""

from chalicelib.accounts import service as accounts
from tests.support import ApiClient, User

_next = [13700000000]


def phone() -> str:
    _next[0] += 1
    return str(_next[0])


def make_admin(api: ApiClient) -> User:
    user = api.login(phone())
    accounts.set_role(user.account_id, "admin")  # operators are provisioned, not self-service
    return api.relogin(user)


def make_doctor(api: ApiClient, admin: User | None = None, *, name="王医生", hospital="北京协和医院",
                department="心内科", title="chief") -> User:
    admin = admin or make_admin(api)
    user = api.login(phone())
    r = api.post("/v1/doctor/application", {"name": name, "hospital": hospital, "department": department,
                                            "title": title, "specialties": ["高血压"],
                                            "licence_no": "110101199001011234"}, token=user.token)
    assert r.status == 201, r.body
    r = api.post(f"/v1/admin/doctors/{user.account_id}/verify", token=admin.token)
    assert r.status == 200, r.body
    return api.relogin(user)


def make_patient(api: ApiClient, *, with_family: bool = False) -> User:
    user = api.login(phone())
    r = api.post("/v1/me/profiles", {"relation": "self", "real_name": "张三", "gender": "male",
                                     "birth_date": "1980-05-01"}, token=user.token)
    assert r.status == 201, r.body
    user.profiles.append(r.body["profile_id"])
    if with_family:
        r = api.post("/v1/me/profiles", {"relation": "child", "real_name": "张小宝", "gender": "female",
                                         "birth_date": "2018-03-02"}, token=user.token)
        assert r.status == 201, r.body
        user.profiles.append(r.body["profile_id"])
    return user
