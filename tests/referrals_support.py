"""Surgery referral test helpers: surgeons who opt in, partner hospitals, a paid case through the
real payments domain, documents really uploaded to the (moto) bucket."""

from chalicelib.core.aws import client
from chalicelib.core.config import get_settings
from chalicelib.followup import templates
from tests.bindings_support import bind
from tests.doctors_support import make_admin, make_doctor, make_patient
from tests.payments_support import pay

SPECIALTY = "骨科"
COUNTY = "130425"  # 河北省邯郸市大名县
WINDOW = {"window_from": "2026-12-01", "window_to": "2026-12-31"}
DATES = ["2026-12-10T08:00:00+08:00", "2026-12-12T08:00:00+08:00"]


def make_surgeon(api, admin, *, name="王主刀", region="110105", max_open=5):
    doctor = make_doctor(api, admin, name=name, hospital="北京积水潭医院", department="骨科")
    r = api.call("PUT", "/v1/doctor/referrals/surgeon",
                 {"specialties": [SPECIALTY], "region_code": region, "max_open": max_open,
                  "windows": [{"starts_on": "2026-12-01", "ends_on": "2026-12-20"}]}, token=doctor.token)
    assert r.status == 200, r.body
    return doctor


def hospital_body(**over):
    body = {"name": "大名县人民医院", "level": "2A", "region_code": COUNTY, "region_name": "河北省邯郸市大名县",
            "departments": [SPECIALTY, "普外科"],
            "contacts": [{"name": "李科长", "role": "医务科", "phone": "03106520000"}],
            "windows": [{"kind": "or", "starts_on": "2026-12-05", "ends_on": "2026-12-15", "capacity": 2},
                        {"kind": "bed", "starts_on": "2026-12-05", "ends_on": "2026-12-25", "capacity": 6}]}
    body.update(over)
    return body


def make_hospital(api, admin, **over):
    r = api.post("/v1/admin/referrals/hospitals", hospital_body(**over), token=admin.token)
    assert r.status == 201, r.body
    return r.body["hospital_id"]


def case_fields(**over):
    body = {"diagnosis": "右膝关节骨性关节炎（重度）", "operation": "右全膝关节置换术", "specialty": SPECIALTY,
            "urgency": "routine", "region_code": COUNTY, **WINDOW}
    body.update(over)
    return body


class World:
    """An operator, two surgeons (one near, one far), a county hospital, a patient bound to a
    local doctor; the follow-up library seeded (the post-operative plan comes from it)."""

    def __init__(self, api, drain):
        self.api = api
        self.admin = make_admin(api)
        self.far = make_surgeon(api, self.admin, name="北京专家", region="110105")
        self.near = make_surgeon(api, self.admin, name="邯郸专家", region="130402")
        self.local = make_doctor(api, self.admin, name="县医生", hospital="大名县人民医院", department="骨科")
        self.alice = make_patient(api)
        self.binding = bind(api, self.local, self.alice, 0)
        self.hospital = make_hospital(api, self.admin)
        templates.seed_library()
        drain()

    def fresh(self):
        for k in ("admin", "far", "near", "local", "alice"):
            user = getattr(self, k)
            again = self.api.relogin(user)
            again.profiles = user.profiles
            setattr(self, k, again)


def upload(api, user, case_id, kind, *, really=True) -> str:
    r = api.post(f"/v1/referrals/cases/{case_id}/documents", {"kind": kind, "content_type": "application/pdf",
                                                              "size": 1000}, token=user.token)
    assert r.status == 201, r.body
    if really:  # what the client's form POST to the presigned URL puts in the bucket
        client("s3").put_object(Bucket=get_settings().attachments_bucket, Key=r.body["fields"]["key"], Body=b"%PDF")
    return r.body["doc_id"]


def submit(api, sb, w: World, drain, **over) -> str:
    """The patient's own case, paid; returns its id (status triage)."""
    consent = api.get("/v1/referrals/consents/referral", token=w.alice.token).body["version"]
    r = api.post("/v1/referrals/cases", {"profile_id": w.alice.profiles[0], "consent": {"accepted": True,
                                                                                         "version": consent},
                                         **case_fields(**over)}, token=w.alice.token)
    assert r.status == 201, r.body
    pay(api, sb, w.alice, r.body["order"]["order_id"])
    assert "referral.submitted" in drain()
    return r.body["case"]["case_id"]


def refer(api, sb, w: World, drain) -> str:
    """The local doctor's case for the patient; the patient consents and pays (status triage)."""
    r = api.post("/v1/doctor/referrals/cases", {"binding_id": w.binding["binding_id"], **case_fields()},
                 token=w.local.token)
    assert r.status == 201, r.body
    case_id = r.body["case"]["case_id"]
    assert r.body["order"] is None and r.body["case"]["status"] == "awaiting_consent"
    r = api.post(f"/v1/referrals/cases/{case_id}/accept-referral", {"accepted": True, "version": "2026-12"},
                 token=w.alice.token)
    assert r.status == 200, r.body
    pay(api, sb, w.alice, r.body["order"]["order_id"])
    assert "referral.submitted" in drain()
    return case_id


def to_accepted(api, w: World, case_id, drain, surgeon=None) -> None:
    surgeon = surgeon or w.near
    r = api.post(f"/v1/admin/referrals/cases/{case_id}/propose",
                 {"surgeon_id": surgeon.account_id, "hospital_id": w.hospital}, token=w.admin.token)
    assert r.status == 200, r.body
    r = api.post(f"/v1/doctor/referrals/cases/{case_id}/accept", {"dates": DATES}, token=surgeon.token)
    assert r.status == 200, r.body
    drain()


def paperwork(api, w: World, case_id, surgeon=None, skip=()) -> None:
    surgeon = surgeon or w.near
    base = f"/v1/referrals/cases/{case_id}"
    if "invitation" not in skip:
        doc = upload(api, w.admin, case_id, "invitation")
        r = api.post(f"/v1/admin/referrals/cases/{case_id}/invitation", {"doc_id": doc}, token=w.admin.token)
        assert r.status == 200 and r.body["paperwork"]["invitation"], r.body
    if "approval" not in skip:
        doc = upload(api, surgeon, case_id, "approval")
        r = api.post(f"/v1/doctor/referrals/cases/{case_id}/home-approval", {"doc_id": doc}, token=surgeon.token)
        assert r.status == 200 and r.body["paperwork"]["home_approval"], r.body
    if "consent" not in skip:
        r = api.post(base + "/surgery-consent", {"accepted": True, "version": "2026-12"}, token=w.alice.token)
        assert r.status == 200 and r.body["paperwork"]["patient_consent"], r.body


def confirmed(api, sb, w: World, drain) -> str:
    case_id = submit(api, sb, w, drain)
    to_accepted(api, w, case_id, drain)
    paperwork(api, w, case_id)
    r = api.post(f"/v1/referrals/cases/{case_id}/confirm", {"surgery_at": DATES[0]}, token=w.alice.token)
    assert r.status == 200 and r.body["status"] == "confirmed", r.body
    drain()
    return case_id
