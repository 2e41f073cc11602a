"""Second-opinion test helpers: experts who opt in, a paid case through the real payments domain,
records really uploaded to the (moto) bucket."""

from chalicelib.core.aws import client
from chalicelib.core.config import get_settings
from tests.doctors_support import make_doctor
from tests.payments_support import pay

SPECIALTY = "肺癌"


def make_expert(api, admin, *, price_fen=200_000, max_open=5, name="王专家", available=True):
    doctor = make_doctor(api, admin, name=name, hospital="上海肺科医院", department="胸外科")
    r = api.call("PUT", "/v1/doctor/opinions/offer", {"price_fen": price_fen, "specialties": [SPECIALTY, "胸外科"],
                                                      "max_open": max_open, "available": available},
                 token=doctor.token)
    assert r.status == 200, r.body
    return doctor


def case_body(patient, **over):
    body = {"profile_id": patient.profiles[0], "reason": "treatment_choice",
            "questions": ["是否必须手术？", "化疗方案是否合适？"], "diagnosis": "右肺腺癌 IIIA 期",
            "treating_hospital": "某市人民医院", "treating_doctor": "李主任", "specialty": SPECIALTY,
            "history": {"present_illness": "咳嗽三月", "medications": "无"}}
    body.update(over)
    return body


def submit(api, sb, patient, drain, **over):
    """Create and pay a case; returns its id (status triage)."""
    r = api.post("/v1/opinions/cases", case_body(patient, **over), token=patient.token)
    assert r.status == 201, r.body
    pay(api, sb, patient, r.body["order"]["order_id"])
    assert "opinion.submitted" in drain()
    return r.body["case"]["case_id"]


def complete(api, admin, case_id, drain):
    r = api.post(f"/v1/admin/opinions/cases/{case_id}/complete", {"summary": "是否手术；化疗方案"}, token=admin.token)
    assert r.status == 200, r.body
    drain()
    return r.body


def assign(api, admin, case_id, expert, drain):
    """The operator hands the completed case to ``expert``; the events delivered."""
    r = api.post(f"/v1/admin/opinions/cases/{case_id}/assign", {"expert_id": expert.account_id}, token=admin.token)
    assert r.status == 200, r.body
    drain()
    return r.body


REPORT = {"diagnosis_review": "refined", "diagnosis_comment": "分期应为 IIIB",
          "answers": [{"question": 0, "answer": "建议先新辅助治疗"}, {"question": 1, "answer": "方案合理"}],
          "treatment_options": [{"option": "新辅助化疗后手术", "pros": "降期", "cons": "周期长"}],
          "recommended_tests": ["PET-CT"], "urgency": "soon", "note_to_treating_doctor": "请复核纵隔淋巴结"}


def upload_record(api, patient, case_id, *, kind="report", content_type="application/pdf", really=True,
                  confirm=True):
    """A presigned record; the file put where the presigned POST would put it (``really``), then
    confirmed (``confirm``). Returns the record id."""
    r = api.post(f"/v1/opinions/cases/{case_id}/records", {"kind": kind, "content_type": content_type, "size": 1000},
                 token=patient.token)
    assert r.status == 201, r.body
    if really:
        client("s3").put_object(Bucket=get_settings().attachments_bucket, Key=r.body["fields"]["key"], Body=b"%PDF")
    if confirm:
        c = api.post(f"/v1/opinions/cases/{case_id}/records/{r.body['record_id']}/confirm", token=patient.token)
        assert c.status == 200 and c.body["uploaded"], c.body
    return r.body["record_id"]
