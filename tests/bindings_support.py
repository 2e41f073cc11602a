"""Binding a patient to a doctor through the real API (for tests of any domain)."""

from chalicelib.core import clock

CONSENT = {"accepted": True, "version": "2026-01"}


def visit(code: str, profile_id: str, **over) -> dict:
    today = clock.now().astimezone(clock.SHANGHAI).date()
    return {"code": code, "profile_id": profile_id, "visit_date": today.isoformat(), "visit_type": "outpatient",
            "hospital": "北京协和医院", "diagnosis": "高血压2级", "consent": CONSENT, **over}


def bind(api, doctor, patient, profile_index: int = 0, consent_version: str | None = None) -> dict:
    """An active binding made by scanning the doctor's live code."""
    code = api.post("/v1/doctor/codes/live", token=doctor.token).body["code"]
    over = {"consent": {"accepted": True, "version": consent_version}} if consent_version else {}
    r = api.post("/v1/bindings", visit(code, patient.profiles[profile_index], **over), token=patient.token)
    assert r.status == 201, r.body
    return r.body
