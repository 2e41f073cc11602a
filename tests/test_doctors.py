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


def test_reject_then_reapply(api, drain):
    admin = make_admin(api)
    user = api.login(phone())
    api.post("/v1/doctor/application", APPLY, token=user.token)
    assert api.post("/v1/doctor/application", APPLY, token=user.token).status == 409
    r = api.post(f"/v1/admin/doctors/{user.account_id}/reject", {"reason": "执业证书不清晰"}, token=admin.token)
    assert r.status == 200 and r.body["reject_reason"] == "执业证书不清晰"
    assert "doctor.rejected" in drain()
    notices = api.get("/v1/notifications", token=user.token).body["items"]
    assert [n["title"] for n in notices if n["event_type"] == "doctor.rejected"] == ["认证未通过"]
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


CITIES = {"北京协和医院": "北京", "上海华山医院": "上海", "广州中山医院": "广州"}
SURNAMES = "王李张刘陈杨赵黄周吴"


def seed_directory(n: int) -> list:
    """n verified doctors through the real apply → verify path, spread over 3 hospitals,
    4 departments, 10 surnames and 5 specialties."""
    from chalicelib.accounts.models import Account
    from chalicelib.core import clock
    from chalicelib.core.http import Caller
    from chalicelib.core.ids import new_id
    from chalicelib.doctors import service
    from chalicelib.doctors.schemas import DoctorApply

    admin = Caller(new_id(), "admin")
    made = []
    for i in range(n):
        hospital = list(CITIES)[i % 3]
        body = DoctorApply(name=f"{SURNAMES[i % 10]}{'建国秀英伟芳'[i % 6]}{i}", hospital=hospital,
                           department=["心内科", "骨科", "内分泌科", "儿科"][i % 4], city=CITIES[hospital],
                           title="attending", specialties=[["高血压", "冠心病", "糖尿病", "骨折", "哮喘"][i % 5]],
                           licence_no=f"LIC{i:08d}")
        doctor = Caller(new_id(), "patient")
        Account(doctor.account_id, phone_sealed="-", phone_masked="-", created_at=clock.now()).save()
        service.apply(doctor, body)
        service.verify(admin, doctor.account_id)
        made.append(body)
    return made


def test_directory_searches_read_what_they_return(api):
    """Every search Queries one key that holds exactly its matches: items read ≤ 2 × page size,
    and a narrow search reads only its few matches — not the directory, page after page."""
    from tests.support import count_items_read

    made = seed_directory(36)
    searches = {
        "?q=王": lambda d: d.name.startswith("王"),
        "?q=王建": lambda d: d.name.startswith("王建"),
        "?q=冠心": lambda d: "冠心病" in d.specialties,
        "?q=上海": lambda d: d.city == "上海" or d.hospital.startswith("上海"),
        "?hospital=广州中山医院": lambda d: d.hospital == "广州中山医院",
        "?hospital=北京协和医院&department=儿科": lambda d: d.hospital == "北京协和医院" and d.department == "儿科",
        "?department=骨科": lambda d: d.department == "骨科",
        "?city=上海": lambda d: d.city == "上海",
        "?specialty=哮喘": lambda d: "哮喘" in d.specialties,
        "": lambda d: True,
    }
    limit = 4
    for search, match in searches.items():
        expected = sorted(d.name for d in made if match(d))
        seen, cursor, pages = [], None, 0
        while True:
            sep = "&" if search else "?"
            url = f"/v1/doctors{search}{sep}limit={limit}" + (f"&cursor={cursor}" if cursor else "")
            with count_items_read() as reads:
                r = api.get(url)
            assert r.status == 200, (url, r.body)
            assert reads["queries"] == 1 and reads["items"] <= 2 * limit, (url, reads)
            assert reads["items"] <= max(len(r.body["items"]), 1), (url, reads, len(r.body["items"]))
            seen += [d["name"] for d in r.body["items"]]
            cursor, pages = r.body["next_cursor"], pages + 1
            if not cursor:
                break
        assert sorted(seen) == expected, search
        assert "bio" not in r.body["items"][0] or r.body["items"][0]["bio"] is None


def test_directory_filtered_searches_read_one_page_per_request(api):
    """A filter on top of the key (q with a place, department with city, q longer than the keyed
    5 characters) reads at most its page per request and returns the matches in it — a page may
    be short or empty with a cursor — and following the cursors finds every match."""
    from tests.support import count_items_read

    made = seed_directory(36)
    searches = {
        "?q=王&city=上海": lambda d: d.name.startswith("王") and d.city == "上海",
        "?q=骨&hospital=北京协和医院": lambda d: (d.department.startswith("骨") or "骨折" in d.specialties)
        and d.hospital == "北京协和医院",
        "?department=骨科&city=北京": lambda d: d.department == "骨科" and d.city == "北京",
        "?q=广州中山医院": lambda d: d.hospital == "广州中山医院",
        "?specialty=哮喘&city=广州": lambda d: "哮喘" in d.specialties and d.city == "广州",
    }
    limit, short = 3, 0
    for search, match in searches.items():
        expected = sorted(d.name for d in made if match(d))
        assert expected, search
        seen, cursor = [], None
        while True:
            url = f"/v1/doctors{search}&limit={limit}" + (f"&cursor={cursor}" if cursor else "")
            with count_items_read() as reads:
                r = api.get(url)
            assert r.status == 200, (url, r.body)
            assert reads["queries"] == 1 and reads["items"] <= limit, (url, reads)
            seen += [d["name"] for d in r.body["items"]]
            cursor = r.body["next_cursor"]
            short += bool(cursor) and len(r.body["items"]) < limit
            if not cursor:
                break
        assert sorted(seen) == expected, search
    assert short  # filters did drop items from pages: the case this test is about


def test_directory_follows_a_profile_change(api):
    doctor = make_doctor(api)
    assert api.get("/v1/doctors?specialty=高血压").body["items"][0]["doctor_id"] == doctor.account_id
    assert api.patch("/v1/doctor/profile", {"specialties": ["心衰"]}, token=doctor.token).status == 200
    assert api.get("/v1/doctors?specialty=高血压").body["items"] == []
    assert api.get("/v1/doctors?q=高血").body["items"] == []
    assert [d["specialties"] for d in api.get("/v1/doctors?q=心衰").body["items"]] == [["心衰"]]
    assert api.get("/v1/doctors?q=王医").body["items"][0]["specialties"] == ["心衰"]
