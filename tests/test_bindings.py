"""QR binding (患者报到): codes, scan → binding, the lifecycle, abuse limits, authorization."""

from datetime import timedelta

import pytest

from chalicelib.core.audit import AuditRecord
from tests.bindings_support import bind, visit
from tests.doctors_support import make_admin, make_doctor, make_patient
from tests.support import count_ddb_calls, dump_dom


@pytest.fixture
def world(api):
    admin = make_admin(api)
    doctor = make_doctor(api, admin)
    return admin, doctor, make_patient(api, with_family=True), make_patient(api)


def live(api, doctor):
    return api.post("/v1/doctor/codes/live", token=doctor.token).body["code"]


def test_live_code_binds_at_once_and_emits_event(api, world, drain):
    _, doctor, alice, _ = world
    r = api.post("/v1/bindings", visit(live(api, doctor), alice.profiles[0]), token=alice.token)
    assert r.status == 201 and r.body["status"] == "active" and r.body["created"] is True
    assert r.body["free_messages"] == 3 and r.body["free_until"]
    assert "binding.activated" in drain()
    mine = api.get("/v1/bindings", token=alice.token).body["items"]
    assert [b["binding_id"] for b in mine] == [r.body["binding_id"]]
    patients = api.get("/v1/doctor/patients", token=doctor.token).body["items"]
    assert [p["patient_name"] for p in patients] == ["张三"]


def test_rescan_is_idempotent(api, world):
    _, doctor, alice, _ = world
    first = bind(api, doctor, alice)
    again = api.post("/v1/bindings", visit(live(api, doctor), alice.profiles[0]), token=alice.token)
    assert again.status == 200 and again.body["binding_id"] == first["binding_id"] and again.body["created"] is False


def test_expired_live_code_refused(api, world, clock):
    _, doctor, alice, _ = world
    code = live(api, doctor)
    clock.advance(seconds=61)
    r = api.post("/v1/bindings", visit(code, alice.profiles[0]), token=alice.token)
    assert r.status == 404 and r.error_code == "invalid_code"


def test_forged_live_code_refused(api, world):
    _, doctor, alice, _ = world
    code = live(api, doctor)
    tampered = code[:-4] + ("AAAA" if code[-4:] != "AAAA" else "BBBB")
    assert api.post("/v1/bindings", visit(tampered, alice.profiles[0]), token=alice.token).status == 404


def test_clinic_card_pending_then_approve_and_reject(api, world, drain):
    _, doctor, alice, bob = world
    card = api.post("/v1/doctor/codes/clinic", token=doctor.token).body["code"]
    r = api.post("/v1/bindings", visit(card, alice.profiles[0]), token=alice.token)
    assert r.status == 201 and r.body["status"] == "pending"
    r2 = api.post("/v1/bindings", visit(card, bob.profiles[0], diagnosis=None), token=bob.token)
    pending = api.get("/v1/doctor/binding-requests", token=doctor.token).body["items"]
    assert {p["binding_id"] for p in pending} == {r.body["binding_id"], r2.body["binding_id"]}
    assert {p["diagnosis"] for p in pending} == {"高血压2级", None}
    # the service pages pending requests like every list: one per page here, none lost
    from chalicelib.bindings import service as bindings
    from chalicelib.core.http import Caller

    first = bindings.pending_requests(Caller(doctor.account_id, "doctor"), "req", limit=1)
    rest = bindings.pending_requests(Caller(doctor.account_id, "doctor"), "req", limit=1,
                                          cursor=first.next_cursor)
    assert len(first.items) == len(rest.items) == 1 and first.next_cursor
    assert {first.items[0].binding_id, rest.items[0].binding_id} == {r.body["binding_id"], r2.body["binding_id"]}
    ok = api.post(f"/v1/doctor/bindings/{r.body['binding_id']}/approve", token=doctor.token)
    assert ok.status == 200 and ok.body["status"] == "active" and ok.body["free_until"]
    no = api.post(f"/v1/doctor/bindings/{r2.body['binding_id']}/reject", {"reason": "未在本院就诊"}, token=doctor.token)
    assert no.body["status"] == "rejected"
    assert api.post(f"/v1/doctor/bindings/{r2.body['binding_id']}/approve", token=doctor.token).status == 409
    assert drain().count("binding.requested") == 2


def test_rotated_clinic_card_refused(api, world):
    _, doctor, alice, _ = world
    old = api.post("/v1/doctor/codes/clinic", token=doctor.token).body["code"]
    new = api.post("/v1/doctor/codes/clinic", token=doctor.token).body["code"]
    assert api.post("/v1/bindings", visit(old, alice.profiles[0]), token=alice.token).status == 404
    assert api.post("/v1/bindings", visit(new, alice.profiles[0]), token=alice.token).status == 201
    assert api.delete("/v1/doctor/codes/clinic", token=doctor.token).status == 200
    assert api.post("/v1/bindings", visit(new, alice.profiles[1]), token=alice.token).status == 404


def test_visit_slip_single_use_back_to_back(api, world):
    _, doctor, alice, bob = world
    slip = api.post("/v1/doctor/codes/slips", {"label": "11月20日门诊"}, token=doctor.token).body["code"]
    first = api.post("/v1/bindings", visit(slip, alice.profiles[0]), token=alice.token)
    second = api.post("/v1/bindings", visit(slip, bob.profiles[0]), token=bob.token)
    assert first.status == 201 and first.body["status"] == "active"
    assert second.status == 409 and second.error_code == "code_used"


def test_visit_slip_consumed_by_conditional_write(api, world, monkeypatch):
    """Both scans pass the read check before either writes: the conditional update decides."""
    from chalicelib.bindings import service
    from chalicelib.bindings.models import DoctorCode
    from chalicelib.bindings.schemas import ScanRequest
    from chalicelib.core.errors import Conflict
    from chalicelib.core.http import Caller

    _, doctor, alice, bob = world
    slip = api.post("/v1/doctor/codes/slips", {}, token=doctor.token).body["code"]
    stale = DoctorCode.get(slip)  # what the second request read before the first one wrote
    real_get = DoctorCode.get
    service.scan(Caller(alice.account_id, "patient"), ScanRequest(**visit(slip, alice.profiles[0])), "r1")
    with monkeypatch.context() as m:
        m.setattr(DoctorCode, "get", classmethod(lambda cls, key, **kw: stale if not kw.get("consistent_read")
                                                 else real_get(key, **kw)))
        with pytest.raises(Conflict):
            service.scan(Caller(bob.account_id, "patient"), ScanRequest(**visit(slip, bob.profiles[0])), "r2")
    assert api.get("/v1/bindings", token=bob.token).body["items"] == []


def test_slip_tied_to_phone(api, world):
    _, doctor, alice, bob = world
    slip = api.post("/v1/doctor/codes/slips", {"patient_phone": alice.phone}, token=doctor.token).body["code"]
    assert api.post("/v1/bindings", visit(slip, bob.profiles[0]), token=bob.token).status == 404
    assert api.post("/v1/bindings", visit(slip, alice.profiles[0]), token=alice.token).status == 201


def test_slip_expires(api, world, clock):
    _, doctor, alice, _ = world
    slip = api.post("/v1/doctor/codes/slips", {"valid_hours": 2}, token=doctor.token).body["code"]
    clock.advance(hours=3)
    assert api.post("/v1/bindings", visit(slip, alice.profiles[0]), token=alice.token).status == 404


def test_blocked_patient_cannot_rebind(api, world):
    _, doctor, alice, _ = world
    b = bind(api, doctor, alice)
    assert api.post(f"/v1/doctor/bindings/{b['binding_id']}/block", token=doctor.token).body["status"] == "blocked"
    r = api.post("/v1/bindings", visit(live(api, doctor), alice.profiles[0]), token=alice.token)
    assert r.status == 422 and r.error_code == "binding_blocked"
    assert api.post(f"/v1/bindings/{b['binding_id']}/end", token=alice.token).status == 409
    assert api.post(f"/v1/doctor/bindings/{b['binding_id']}/unblock", token=doctor.token).body["status"] == "active"


def test_end_then_rebind(api, world):
    _, doctor, alice, _ = world
    b = bind(api, doctor, alice)
    assert api.post(f"/v1/bindings/{b['binding_id']}/end", token=alice.token).body["status"] == "ended"
    again = bind(api, doctor, alice)
    assert again["binding_id"] != b["binding_id"]


def test_family_profile_binding(api, world):
    _, doctor, alice, _ = world
    own = bind(api, doctor, alice, 0)
    child = bind(api, doctor, alice, 1)
    assert own["binding_id"] != child["binding_id"] and child["patient_name"] == "张小宝"
    assert len(api.get("/v1/bindings", token=alice.token).body["items"]) == 2
    # a profile of another account cannot be used
    _, _, _, bob = world
    r = api.post("/v1/bindings", visit(live(api, doctor), alice.profiles[1]), token=bob.token)
    assert r.status == 404


def test_consent_and_visit_rules(api, world, clock):
    _, doctor, alice, _ = world
    code = live(api, doctor)
    pid = alice.profiles[0]
    r = api.post("/v1/bindings", visit(code, pid, consent={"accepted": False, "version": "v1"}), token=alice.token)
    assert r.status == 422 and r.error_code == "consent_required"
    today = clock.now().astimezone().date()
    r = api.post("/v1/bindings", visit(code, pid, visit_date=(today + timedelta(days=2)).isoformat()), token=alice.token)
    assert r.status == 422 and r.error_code == "visit_in_future"
    r = api.post("/v1/bindings", visit(code, pid, visit_date=(today - timedelta(days=40)).isoformat()), token=alice.token)
    assert r.status == 422 and r.error_code == "visit_too_old"
    ok = api.post("/v1/bindings", visit(code, pid), token=alice.token)
    assert ok.status == 201
    detail = api.get(f"/v1/bindings/{ok.body['binding_id']}", token=alice.token).body
    assert detail["consent_version"] == "2026-01" and detail["consent_at"]


def test_reads_of_evidence_are_audited(api, world):
    admin, doctor, alice, _ = world
    b = bind(api, doctor, alice)
    api.get(f"/v1/bindings/{b['binding_id']}", token=doctor.token)
    api.get(f"/v1/bindings/{b['binding_id']}", token=admin.token)
    actions = [(r.actor_id, r.action) for r in AuditRecord.query(alice.profiles[0])]
    assert (alice.account_id, "create") in actions
    assert (doctor.account_id, "read") in actions and (admin.account_id, "read") in actions


def test_operator_lists_a_doctors_bindings_audited(api, world):
    admin, doctor, alice, bob = world
    b1 = bind(api, doctor, alice, 0)
    b2 = bind(api, doctor, alice, 1)
    bind(api, make_doctor(api, admin, name="钱医生"), bob)  # another doctor's patient: not listed
    with count_ddb_calls() as calls:
        r = api.get(f"/v1/admin/doctors/{doctor.account_id}/bindings?status=active&limit=1", token=admin.token)
    assert r.status == 200 and len(r.body["items"]) == 1 and r.body["next_cursor"]
    assert calls == ["Query", "BatchWriteItem"]  # the page, and its audit records
    r2 = api.get(f"/v1/admin/doctors/{doctor.account_id}/bindings?status=active&cursor={r.body['next_cursor']}",
                 token=admin.token)
    assert {b["binding_id"] for b in r.body["items"] + r2.body["items"]} == {b1["binding_id"], b2["binding_id"]}
    assert api.get(f"/v1/admin/doctors/{doctor.account_id}/bindings?status=blocked", token=admin.token).body[
        "items"] == []
    assert api.get(f"/v1/admin/doctors/{doctor.account_id}/bindings?status=nope", token=admin.token).status == 400
    for profile in alice.profiles:
        assert (admin.account_id, "read") in [(a.actor_id, a.action) for a in AuditRecord.query(profile)]
    for user in (doctor, alice):
        assert api.get(f"/v1/admin/doctors/{doctor.account_id}/bindings", token=user.token).status == 403


def test_guessing_codes_is_rate_limited(api, world):
    _, _, alice, _ = world
    statuses = [api.post("/v1/bindings", visit(f"C{'x' * 23}{i:02d}", alice.profiles[0]), token=alice.token).status
                for i in range(12)]
    assert statuses[:10] == [404] * 10 and statuses[10:] == [429, 429]


def test_pending_requests_per_day_limited(api, world):
    _, doctor, _, _ = world
    card = api.post("/v1/doctor/codes/clinic", token=doctor.token).body["code"]
    patient = make_patient(api)
    # one account, several family profiles, each a pending request
    for i in range(5):
        r = api.post("/v1/me/profiles", {"relation": "other", "real_name": f"亲属{i}", "gender": "male",
                                         "birth_date": "1990-01-01"}, token=patient.token)
        patient.profiles.append(r.body["profile_id"])
    statuses = [api.post("/v1/bindings", visit(card, pid), token=patient.token).status for pid in patient.profiles]
    assert statuses == [201] * 5 + [429]


def test_groups_and_patient_search(api, world):
    _, doctor, alice, bob = world
    a = bind(api, doctor, alice)
    bind(api, doctor, bob)
    api.put = lambda path, body, **kw: api.call("PUT", path, body, **kw)
    assert api.put(f"/v1/doctor/bindings/{a['binding_id']}/groups", {"groups": ["高血压", "术后"]},
                   token=doctor.token).status == 200
    grouped = api.get("/v1/doctor/patients?group=术后", token=doctor.token).body["items"]
    assert [p["binding_id"] for p in grouped] == [a["binding_id"]]
    assert len(api.post("/v1/doctor/patients/search", {"q": "张"}, token=doctor.token).body["items"]) == 2
    found = api.post("/v1/doctor/patients/search", {"q": "张", "group": "术后"}, token=doctor.token).body["items"]
    assert [p["binding_id"] for p in found] == [a["binding_id"]]
    assert api.get("/v1/doctor/patients?q=张", token=doctor.token).status == 400  # never in a URL


def test_follow_up_settings_apply_to_new_bindings(api, world):
    _, doctor, alice, _ = world
    r = api.call("PUT", "/v1/doctor/follow-up-settings", {"free_days": 14, "free_messages": 10, "visit_window_days": 60},
                 token=doctor.token)
    assert r.status == 200 and r.body["free_days"] == 14
    b = bind(api, doctor, alice)
    assert b["free_messages"] == 10


def test_qr_images(api, world):
    _, doctor, _, _ = world
    card = api.post("/v1/doctor/codes/clinic", token=doctor.token).body["code"]
    r = api.client.http.get(f"/v1/doctor/codes/{card}/qr.png", headers={"Authorization": f"Bearer {doctor.token}",
                                                                          "Accept": "image/png"})
    assert r.status_code == 200 and r.body[:8] == b"\x89PNG\r\n\x1a\n"
    r = api.client.http.get(f"/v1/doctor/codes/{card}/qr.svg", headers={"Authorization": f"Bearer {doctor.token}"})
    assert r.status_code == 200 and b"<svg" in r.body


def test_budgets(api, world):
    _, doctor, alice, _ = world
    code = live(api, doctor)
    with count_ddb_calls() as calls:
        r = api.post("/v1/bindings", visit(code, alice.profiles[0]), token=alice.token)
    assert r.status == 201
    assert len(calls) <= 4 and calls.count("TransactWriteItems") == 1, calls
    with count_ddb_calls() as calls:
        assert api.get("/v1/doctor/patients", token=doctor.token).status == 200
    assert calls == ["Query"]
    with count_ddb_calls() as calls:
        r = api.get("/v1/bindings", token=alice.token)
    # the patient's list shows who each doctor is: one BatchGetItem for the page, not a call per row
    assert calls == ["Query", "BatchGetItem"], calls
    assert r.body["items"][0]["doctor"] == {"doctor_id": doctor.account_id, "name": "王医生", "title": "chief",
                                            "hospital": "北京协和医院", "department": "心内科"}
    assert r.body["items"][0]["patient_name"]


def test_authorization_matrix(api, world):
    admin, doctor, alice, bob = world
    other_doctor = make_doctor(api, admin, name="赵医生")
    b = bind(api, doctor, alice)
    bid = b["binding_id"]
    # the binding's evidence: participants and admins only; everyone else 404
    assert api.get(f"/v1/bindings/{bid}", token=alice.token).status == 200
    assert api.get(f"/v1/bindings/{bid}", token=doctor.token).status == 200
    assert api.get(f"/v1/bindings/{bid}", token=admin.token).status == 200
    assert api.get(f"/v1/bindings/{bid}", token=bob.token).status == 404
    assert api.get(f"/v1/bindings/{bid}", token=other_doctor.token).status == 404
    # doctor actions on another doctor's binding: 404
    for action in ("approve", "block", "unblock"):
        assert api.post(f"/v1/doctor/bindings/{bid}/{action}", token=other_doctor.token).status == 404
    assert api.call("PUT", f"/v1/doctor/bindings/{bid}/groups", {"groups": ["x"]}, token=other_doctor.token).status == 404
    # the patient's end: only the managing account
    assert api.post(f"/v1/bindings/{bid}/end", token=bob.token).status == 404
    # lists are scoped to the caller
    assert api.get("/v1/doctor/patients", token=other_doctor.token).body["items"] == []
    assert api.get("/v1/bindings", token=bob.token).body["items"] == []
    # QR images of another doctor's code: 404
    card = api.post("/v1/doctor/codes/clinic", token=doctor.token).body["code"]
    assert api.get(f"/v1/doctor/codes/{card}/qr.svg", token=other_doctor.token).status == 404
    # roles: doctors cannot scan, patients cannot issue codes
    assert api.post("/v1/bindings", visit(card, alice.profiles[0]), token=doctor.token).status == 403
    assert api.post("/v1/doctor/codes/live", token=alice.token).status == 403
    # an unverified applicant cannot issue codes (role is still patient): 403
    assert api.post("/v1/doctor/codes/clinic", token=bob.token).status == 403


def test_landing_page(api, world, clock):
    _, doctor, _, _ = world
    card = api.post("/v1/doctor/codes/clinic", token=doctor.token).body["code"]
    r = api.client.http.get(f"/b/{card}")
    assert r.status_code == 200 and "王医生" in r.body.decode() and "主任医师" in r.body.decode()
    bad = api.client.http.get("/b/Cnot-a-real-code-xxxxxxxx")
    page = bad.body.decode()
    assert bad.status_code == 404 and "二维码无效" in page and 'lang="zh-CN"' in page and "过期" not in page
    assert "not valid" not in page  # no English on a zh-CN page
    code = live(api, doctor)
    clock.advance(seconds=90)
    expired = api.client.http.get(f"/b/{code}")
    assert expired.status_code == 404 and "二维码已过期，请让医生刷新" in expired.body.decode()
    assert api.get(f"/v1/codes/{code}", token=world[2].token).error_code == "code_expired"
    forged = code[:-4] + ("AAAA" if not code.endswith("AAAA") else "BBBB")
    assert "二维码无效" in api.client.http.get(f"/b/{forged}").body.decode()
    slip = api.post("/v1/doctor/codes/slips", {"valid_hours": 1}, token=doctor.token).body["code"]
    clock.advance(hours=2)
    assert "二维码已过期，请让医生刷新" in api.client.http.get(f"/b/{slip}").body.decode()


@pytest.mark.enable_socket
def test_landing_page_renders_in_chromium(api, world):
    """The landing page, served over HTTP, rendered by headless Chromium, shows the doctor's name."""
    _, doctor, _, _ = world
    card = api.post("/v1/doctor/codes/clinic", token=doctor.token).body["code"]
    page = api.client.http.get(f"/b/{card}").body
    out = dump_dom(page, f"/b/{card}")
    assert '<h1 id="doctor-name">王医生</h1>' in out.stdout, out.stderr[-2000:]
    assert "在App中打开" in out.stdout


def test_consent_text_is_served_and_a_new_version_needs_a_new_acceptance(api, world, monkeypatch):
    from chalicelib.bindings import consents

    _, doctor, alice, bob = world
    c = api.get("/v1/consents/binding")
    assert c.status == 200 and c.body["version"] and "医生" in c.body["text"]
    assert api.get("/v1/consents/nope").status == 404
    first = bind(api, doctor, alice, consent_version=c.body["version"])
    detail = api.get(f"/v1/bindings/{first['binding_id']}", token=alice.token).body
    assert detail["consent_version"] == c.body["version"]
    # the text changes: the version the patient saw before is no longer enough
    monkeypatch.setitem(consents.CONSENTS, "binding",
                        consents.ConsentText("binding", "2027-01", "新版", c.body["text"] + "（修订）"))
    assert api.get("/v1/consents/binding").body["version"] == "2027-01"
    code = live(api, doctor)
    old = visit(code, bob.profiles[0], consent={"accepted": True, "version": c.body["version"]})
    r = api.post("/v1/bindings", old, token=bob.token)
    assert r.status == 422 and r.error_code == "consent_outdated"
    new = visit(code, bob.profiles[0], consent={"accepted": True, "version": "2027-01"})
    r = api.post("/v1/bindings", new, token=bob.token)
    assert r.status == 201
    assert api.get(f"/v1/bindings/{r.body['binding_id']}", token=bob.token).body["consent_version"] == "2027-01"
