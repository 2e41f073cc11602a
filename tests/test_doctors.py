"""Doctor applications, operator verification and the public directory."""

from tests.doctors_support import make_admin, make_doctor, phone
from tests.support import count_ddb_calls

APPLY = {"name": "李医生", "hospital": "北京协和医院", "department": "骨科", "title": "attending",
         "specialties": ["关节置换"], "licence_no": "A1234567890", "bio": "骨科主治医师"}


def test_apply_verify_directory(api):
    admin = make_admin(api)
    user = api.login(phone())
    r = api.post("/v1/doctor/application", APPLY, token=user.token)
    assert r.status == 201 and r.body["status"] == "pending"
    assert r.body["licence_masked"].startswith("A1") and "234567" not in r.body["licence_masked"]
    # pending doctors are invisible in the directory
    assert api.get("/v1/doctors").body["items"] == []
    assert api.get(f"/v1/doctors/{user.account_id}").status == 404
    queue = api.get("/v1/admin/doctors?status=pending", token=admin.token)
    assert [d["doctor_id"] for d in queue.body["items"]] == [user.account_id]

    assert api.post(f"/v1/admin/doctors/{user.account_id}/verify", token=admin.token).status == 200
    listed = api.get("/v1/doctors").body["items"]
    assert [d["doctor_id"] for d in listed] == [user.account_id]
    assert "licence_masked" not in listed[0]
    assert api.get(f"/v1/doctors/{user.account_id}").body["name"] == "李医生"
    # the role reaches the token on refresh
    assert api.relogin(user).role == "doctor"
    # verifying twice is harmless; rejecting a verified doctor is a conflict
    assert api.post(f"/v1/admin/doctors/{user.account_id}/verify", token=admin.token).status == 200
    assert api.post(f"/v1/admin/doctors/{user.account_id}/reject", {"reason": "资质不符"},
                    token=admin.token).status == 409


def test_reject_then_reapply(api):
    admin = make_admin(api)
    user = api.login(phone())
    api.post("/v1/doctor/application", APPLY, token=user.token)
    assert api.post("/v1/doctor/application", APPLY, token=user.token).status == 409
    r = api.post(f"/v1/admin/doctors/{user.account_id}/reject", {"reason": "执业证书不清晰"}, token=admin.token)
    assert r.status == 200 and r.body["reject_reason"] == "执业证书不清晰"
    assert api.get("/v1/doctor/application", token=user.token).body["status"] == "rejected"
    assert api.post("/v1/doctor/application", APPLY, token=user.token).status == 201


def test_directory_filters_and_pagination(api):
    admin = make_admin(api)
    make_doctor(api, admin, name="甲", hospital="协和", department="心内科")
    make_doctor(api, admin, name="乙", hospital="协和", department="骨科")
    make_doctor(api, admin, name="丙", hospital="华山", department="心内科")
    names = lambda r: sorted(d["name"] for d in r.body["items"])  # noqa: E731
    assert names(api.get("/v1/doctors?hospital=协和")) == ["乙", "甲"]
    assert names(api.get("/v1/doctors?hospital=协和&department=心内科")) == ["甲"]
    assert names(api.get("/v1/doctors?department=心内科")) == ["丙", "甲"]
    assert names(api.get("/v1/doctors?q=华山")) == ["丙"]
    seen, cursor = [], None
    while True:
        r = api.get("/v1/doctors?limit=2" + (f"&cursor={cursor}" if cursor else ""))
        assert r.status == 200 and len(r.body["items"]) <= 2
        seen += [d["name"] for d in r.body["items"]]
        cursor = r.body["next_cursor"]
        if not cursor:
            break
    assert sorted(seen) == ["丙", "乙", "甲"]
    assert api.get("/v1/doctors?limit=0").status == 400
    assert api.get("/v1/doctors?limit=1000").status == 400
    assert api.get("/v1/doctors?cursor=%%%").status == 400
    assert api.get("/v1/doctors?cursor=eyJ4IjogMX0=").status == 400


def test_directory_is_one_query(api):
    make_doctor(api)
    for url in ("/v1/doctors", "/v1/doctors?hospital=北京协和医院", "/v1/doctors?department=心内科", "/v1/doctors?q=王"):
        with count_ddb_calls() as calls:
            assert api.get(url).status == 200
        assert calls == ["Query"], (url, calls)


def test_doctor_updates_own_profile(api):
    doctor = make_doctor(api)
    r = api.patch("/v1/doctor/profile", {"bio": "擅长冠心病", "specialties": ["冠心病"]}, token=doctor.token)
    assert r.status == 200 and r.body["specialties"] == ["冠心病"]
    assert api.get("/v1/doctors?q=冠心病").body["items"][0]["doctor_id"] == doctor.account_id


def test_application_validation(api):
    user = api.login(phone())
    assert api.post("/v1/doctor/application", {**APPLY, "title": "god"}, token=user.token).status == 400
    assert api.post("/v1/doctor/application", {**APPLY, "licence_no": "x"}, token=user.token).status == 400
    assert api.post("/v1/doctor/application", {**APPLY, "unknown": 1}, token=user.token).status == 400
