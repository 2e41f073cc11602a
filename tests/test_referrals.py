"""Surgery referral (名医主刀) through HTTP with the real payments and follow-up domains: the
whole flow from a county doctor's referral to the post-operative plan, the paperwork a visiting
surgeon needs before a date is confirmed, cancellation and refunds by cause, no money ever to a
referrer, who may see what, and the DynamoDB calls of the main reads."""

from datetime import UTC, datetime

import pytest

from chalicelib.core import timers
from chalicelib.core.audit import AuditRecord
from chalicelib.payments.models import LedgerEntry, Order, Refund
from chalicelib.referrals.models import Case
from tests.doctors_support import make_doctor, make_patient
from tests.payments_support import deliver, wxpay  # noqa: F401  (fixture)
from tests.referrals_support import DATES, World, case_fields, confirmed, paperwork, refer, submit, to_accepted, upload
from tests.support import count_ddb_calls


@pytest.fixture
def w(api, clock, drain, wxpay):  # noqa: F811
    return World(api, drain)


def _inbox(api, user, event_type):
    items = api.get("/v1/notifications?limit=100", token=user.token).body["items"]
    return [i for i in items if i["event_type"] == event_type]


def _refunds(case_id):
    order_id = Case.get(case_id).order_id
    return [r for r in Refund.scan(Refund.order_id == order_id)], Order.get(order_id)


def test_referral_happy_path(api, w, wxpay, clock, drain):  # noqa: F811
    # a county doctor refers a bound patient; the patient consents in the app and pays the fee
    case_id = refer(api, wxpay, w, drain)
    case = api.get(f"/v1/referrals/cases/{case_id}", token=w.alice.token).body
    assert case["status"] == "triage" and case["submitted_by"] == "doctor" and case["referrer_id"] == w.local.account_id
    assert case["fee_fen"] == 50_000
    upload(api, w.local, case_id, "imaging")  # the referrer adds records
    upload(api, w.alice, case_id, "report")

    # operators: the triage queue, candidates by specialty and distance, a proposal
    q = api.get("/v1/admin/referrals/cases?queue=triage", token=w.admin.token).body["items"]
    assert [c["case_id"] for c in q] == [case_id]
    cand = api.get(f"/v1/admin/referrals/cases/{case_id}/candidates", token=w.admin.token).body
    assert [c["surgeon"]["doctor_id"] for c in cand["surgeons"]] == [w.near.account_id, w.far.account_id]
    assert [c["distance"] for c in cand["surgeons"]] == [1, 3] and cand["surgeons"][0]["window_fits"]
    assert cand["hospitals"][0]["hospital"]["hospital_id"] == w.hospital and cand["hospitals"][0]["distance"] == 0
    assert cand["hospitals"][0]["window_fits"] and cand["hospitals"][0]["has_department"]
    r = api.post(f"/v1/admin/referrals/cases/{case_id}/propose",
                 {"surgeon_id": w.near.account_id, "hospital_id": w.hospital}, token=w.admin.token)
    assert r.status == 200 and r.body["status"] == "proposed" and r.body["hospital"]["name"] == "大名县人民医院"
    assert "referral.proposed" in drain()
    assert _inbox(api, w.near, "referral.proposed")
    assert api.get(f"/v1/referrals/cases/{case_id}", token=w.far.token).status == 404

    # the near surgeon declines → re-matched to the far one, who accepts with dates
    assert api.post(f"/v1/doctor/referrals/cases/{case_id}/decline", {"reason": "日程冲突"},
                    token=w.near.token).status == 200
    assert "referral.declined" in drain()
    assert api.get(f"/v1/referrals/cases/{case_id}", token=w.near.token).status == 404
    q = api.get("/v1/admin/referrals/cases?queue=matching", token=w.admin.token).body["items"]
    assert [c["case_id"] for c in q] == [case_id]
    cand = api.get(f"/v1/admin/referrals/cases/{case_id}/candidates", token=w.admin.token).body
    assert [c["surgeon"]["doctor_id"] for c in cand["surgeons"]] == [w.far.account_id]  # who declined is not asked
    r = api.post(f"/v1/admin/referrals/cases/{case_id}/propose",
                 {"surgeon_id": w.near.account_id, "hospital_id": w.hospital}, token=w.admin.token)
    assert (r.status, r.error_code) == (422, "surgeon_unavailable")
    to_accepted(api, w, case_id, drain, surgeon=w.far)
    case = api.get(f"/v1/referrals/cases/{case_id}", token=w.alice.token).body
    assert case["status"] == "accepted" and case["proposed_dates"] == DATES
    assert _inbox(api, w.alice, "referral.accepted") and _inbox(api, w.local, "referral.accepted")
    held = api.get("/v1/doctor/referrals/cases?side=surgeon", token=w.far.token).body["items"]
    assert [c["case_id"] for c in held] == [case_id]
    mine = api.get("/v1/doctor/referrals/cases?side=referrer", token=w.local.token).body["items"]
    assert [c["case_id"] for c in mine] == [case_id]

    # paperwork, then the patient confirms one of the proposed dates
    paperwork(api, w, case_id, surgeon=w.far)
    r = api.post(f"/v1/referrals/cases/{case_id}/confirm", {"surgery_at": "2026-12-11T08:00:00+08:00"},
                 token=w.alice.token)
    assert (r.status, r.error_code) == (422, "not_a_proposed_date")
    r = api.post(f"/v1/referrals/cases/{case_id}/confirm", {"surgery_at": DATES[0]}, token=w.alice.token)
    assert r.status == 200 and r.body["status"] == "confirmed" and r.body["surgery_at"] == DATES[0]
    assert [i["item_id"] for i in r.body["checklist"]] == ["tests", "documents", "fasting"]
    assert r.body["checklist"][0]["remind_at"] == "2026-12-07T09:00:00+08:00"
    assert "referral.confirmed" in drain()
    for user in (w.alice, w.local, w.far):
        assert _inbox(api, user, "referral.confirmed"), user
    r = api.post(f"/v1/referrals/cases/{case_id}/checklist/documents/done", token=w.alice.token)
    assert r.status == 200 and r.body["checklist"][1]["done_at"]

    # reminders: every item not ticked off, once (the documents were ticked: no reminder)
    clock.current = datetime(2026, 12, 9, 13, 0, tzinfo=UTC)  # 12-09 21:00 in Shanghai
    timers.sweep()
    events = drain()
    assert events.count("referral.checklist_reminder") == 2
    w.fresh()
    titles = sorted(i["body"] for i in _inbox(api, w.alice, "referral.checklist_reminder"))
    assert len(titles) == 2 and any("禁食禁水" in t for t in titles) and not any("携带资料" in t for t in titles)

    # too early to record the operation; then done → the agreed event and the post-operative plan
    r = api.post(f"/v1/doctor/referrals/cases/{case_id}/done", {}, token=w.far.token)
    assert (r.status, r.error_code) == (409, "too_early")
    clock.current = datetime(2026, 12, 10, 6, 0, tzinfo=UTC)
    w.fresh()
    r = api.post(f"/v1/doctor/referrals/cases/{case_id}/done", {"note": "手术顺利"}, token=w.far.token)
    assert r.status == 200 and r.body["status"] == "done" and r.body["plan_status"] == "pending"
    from chalicelib.core.outbox import OutboxEvent

    done = [e for e in OutboxEvent.scan() if e.type == "referral.surgery_done"]
    assert len(done) == 1 and set(done[0].payload) == {"case_id", "account_id", "profile_id", "doctor_id", "done_at"}
    assert done[0].payload["doctor_id"] == w.far.account_id and done[0].payload["account_id"] == w.alice.account_id
    delivered = drain()
    # referrals writes only its case; the plan is made by follow-up's consumer of the request
    assert "referral.surgery_done" in delivered and "referral.postop_plan_requested" in delivered
    case = api.get(f"/v1/referrals/cases/{case_id}", token=w.alice.token).body
    assert case["plan_status"] == "assigned" and case["plan_id"]
    plan = api.get(f"/v1/followup/plans/{case['plan_id']}", token=w.alice.token)
    assert plan.status == 200 and plan.body["anchor_date"] == "2026-12-10" and plan.body["anchor_type"] == "surgery"
    r = api.get(f"/v1/doctor/followup/plans/{case['plan_id']}", token=w.local.token)
    assert r.status == 200  # followed up by the patient's own (bound) county doctor
    assert api.get("/v1/doctor/referrals/surgeon", token=w.far.token).body["open_cases"] == 0


def test_patient_case_without_a_bound_doctor_says_so(api, w, wxpay, clock, drain):  # noqa: F811
    case_id = confirmed(api, wxpay, w, drain)
    clock.current = datetime(2026, 12, 10, 6, 0, tzinfo=UTC)
    w.fresh()
    r = api.post(f"/v1/admin/referrals/cases/{case_id}/done", {}, token=w.admin.token)
    assert r.status == 200
    drain()
    case = api.get(f"/v1/referrals/cases/{case_id}", token=w.alice.token).body
    # the patient's own case; the surgeon is not bound to them: no plan, and the case says why
    assert case["plan_status"] == "no_bound_doctor" and case["plan_id"] is None


@pytest.mark.parametrize("missing,code", [("invitation", "invitation_missing"), ("approval", "home_approval_missing"),
                                          ("consent", "patient_consent_missing")])
def test_confirmation_refused_without_each_paper(api, w, wxpay, clock, drain, missing, code):  # noqa: F811
    case_id = submit(api, wxpay, w, drain)
    to_accepted(api, w, case_id, drain)
    paperwork(api, w, case_id, skip=(missing,))
    r = api.post(f"/v1/referrals/cases/{case_id}/confirm", {"surgery_at": DATES[0]}, token=w.alice.token)
    assert (r.status, r.error_code) == (409, code), r.body
    assert api.get(f"/v1/referrals/cases/{case_id}", token=w.alice.token).body["status"] == "accepted"
    paperwork(api, w, case_id, skip={"invitation", "approval", "consent"} - {missing})
    r = api.post(f"/v1/referrals/cases/{case_id}/confirm", {"surgery_at": DATES[0]}, token=w.alice.token)
    assert r.status == 200 and r.body["status"] == "confirmed"


def test_paper_must_be_the_right_uploaded_document(api, w, wxpay, clock, drain):  # noqa: F811
    case_id = submit(api, wxpay, w, drain)
    to_accepted(api, w, case_id, drain)
    r = api.post(f"/v1/referrals/cases/{case_id}/confirm", {"surgery_at": DATES[0]}, token=w.alice.token)
    assert (r.status, r.error_code) == (409, "invitation_missing")
    assert "home approval" not in r.body["error"]["message"] and "own hospital" in r.body["error"]["message"]
    never = upload(api, w.admin, case_id, "invitation", really=False)  # presigned, never uploaded
    r = api.post(f"/v1/admin/referrals/cases/{case_id}/invitation", {"doc_id": never}, token=w.admin.token)
    assert (r.status, r.error_code) == (422, "document_not_uploaded")
    record = upload(api, w.alice, case_id, "report")
    r = api.post(f"/v1/admin/referrals/cases/{case_id}/invitation", {"doc_id": record}, token=w.admin.token)
    assert (r.status, r.error_code) == (422, "wrong_document")
    # a patient cannot upload an invitation, a surgeon only their hospital's approval
    r = api.post(f"/v1/referrals/cases/{case_id}/documents", {"kind": "invitation", "content_type": "application/pdf",
                                                              "size": 10}, token=w.alice.token)
    assert (r.status, r.error_code) == (422, "kind_not_allowed")
    r = api.post(f"/v1/referrals/cases/{case_id}/surgery-consent", {"accepted": True, "version": "2020-01"},
                 token=w.alice.token)
    assert (r.status, r.error_code) == (422, "consent_outdated")


def test_cancellation_and_refund_rules(api, w, wxpay, clock, drain):  # noqa: F811
    # unpaid: the order is closed, nothing to refund
    r = api.post("/v1/referrals/cases", {"profile_id": w.alice.profiles[0], "consent": {"accepted": True,
                                                                                         "version": "2026-12"},
                                         **case_fields()}, token=w.alice.token)
    cid = r.body["case"]["case_id"]
    r = api.post(f"/v1/referrals/cases/{cid}/cancel", {}, token=w.alice.token)
    assert r.status == 200 and r.body["status"] == "cancelled" and not r.body["refunded"]
    drain()
    assert Order.get(Case.get(cid).order_id).status == "closed"

    # paid, before confirmation: the patient cancels → full refund, the surgeon's load released
    cid = submit(api, wxpay, w, drain)
    to_accepted(api, w, cid, drain)
    assert api.get("/v1/doctor/referrals/surgeon", token=w.near.token).body["open_cases"] == 1
    r = api.post(f"/v1/referrals/cases/{cid}/cancel", {"reason": "改变主意"}, token=w.alice.token)
    assert r.status == 200 and r.body["refunded"] and r.body["cancel_cause"] == "patient"
    assert "referral.cancelled" in drain()
    refunds, order = _refunds(cid)
    assert len(refunds) == 1 and refunds[0].amount_fen == 50_000 == order.amount_fen
    assert api.get("/v1/doctor/referrals/surgeon", token=w.near.token).body["open_cases"] == 0
    assert _inbox(api, w.near, "referral.cancelled")  # the surgeon is told too
    assert api.post(f"/v1/referrals/cases/{cid}/cancel", {}, token=w.alice.token).status == 409

    # confirmed, then the patient cancels: the fee is kept
    cid = confirmed(api, wxpay, w, drain)
    r = api.post(f"/v1/referrals/cases/{cid}/cancel", {}, token=w.alice.token)
    assert r.status == 200 and r.body["status"] == "cancelled" and not r.body["refunded"]
    drain()
    assert _refunds(cid)[0] == []

    # confirmed, then the surgeon withdraws: everyone is told, the case is matched again, papers
    # tied to that surgeon and host are asked for again; the fee is untouched
    cid = confirmed(api, wxpay, w, drain)
    r = api.post(f"/v1/doctor/referrals/cases/{cid}/withdraw", {"reason": "临时出国"}, token=w.near.token)
    assert r.status == 200 and r.body["status"] == "matching"
    assert api.get(f"/v1/referrals/cases/{cid}", token=w.near.token).status == 404  # no longer theirs to see
    assert "referral.surgeon_cancelled" in drain()
    for user in (w.alice, w.near):
        assert _inbox(api, user, "referral.surgeon_cancelled"), user
    case = api.get(f"/v1/referrals/cases/{cid}", token=w.alice.token).body
    assert case["status"] == "matching" and case["surgery_at"] is None and case["checklist"] == []
    assert case["paperwork"] == {"invitation": False, "home_approval": False, "patient_consent": False}
    assert _refunds(cid)[0] == []
    # re-matched to the far surgeon; then the host hospital cancels: re-matched again
    to_accepted(api, w, cid, drain, surgeon=w.far)
    r = api.post(f"/v1/admin/referrals/cases/{cid}/host-cancel", {"reason": "手术室检修"}, token=w.admin.token)
    assert r.status == 200 and r.body["status"] == "matching" and r.body["hospital"] is None
    assert "referral.host_cancelled" in drain()
    for user in (w.alice, w.far):
        assert _inbox(api, user, "referral.host_cancelled"), user
    # the far surgeon was not at fault: they can be asked again; then the host cancels for good
    to_accepted(api, w, cid, drain, surgeon=w.far)
    paperwork(api, w, cid, surgeon=w.far)
    assert api.post(f"/v1/referrals/cases/{cid}/confirm", {"surgery_at": DATES[0]}, token=w.alice.token).status == 200
    r = api.post(f"/v1/admin/referrals/cases/{cid}/cancel", {"cause": "host", "reason": "医院停止合作"},
                 token=w.admin.token)
    assert r.status == 200 and r.body["refunded"] and r.body["cancel_cause"] == "host"
    drain()
    refunds, order = _refunds(cid)
    assert len(refunds) == 1 and refunds[0].amount_fen == order.amount_fen
    assert deliver(api, *wxpay.complete_refund(refunds[0].refund_id),
                   path="/v1/payments/wechat/refund-notify").status == 204
    assert Order.get(order.order_id).refunded_fen == 50_000
    for user in (w.alice, w.far):
        assert _inbox(api, user, "referral.cancelled"), user


def test_surgeons_run_out_then_refund(api, w, wxpay, clock, drain, monkeypatch):  # noqa: F811
    monkeypatch.setenv("SUIZHEN_REFERRAL_MAX_SURGEONS", "2")
    from chalicelib.core.config import get_settings

    get_settings.cache_clear()
    try:
        cid = submit(api, wxpay, w, drain)
        for s in (w.near, w.far):
            api.post(f"/v1/admin/referrals/cases/{cid}/propose", {"surgeon_id": s.account_id,
                                                                 "hospital_id": w.hospital}, token=w.admin.token)
            assert api.post(f"/v1/doctor/referrals/cases/{cid}/decline", {}, token=s.token).status == 200
        drain()
        case = api.get(f"/v1/referrals/cases/{cid}", token=w.alice.token).body
        assert case["status"] == "cancelled" and case["refunded"] and case["cancel_cause"] == "surgeon"
        assert len(_refunds(cid)[0]) == 1
    finally:
        get_settings.cache_clear()


def test_no_ledger_line_ever_pays_a_referrer(api, w, wxpay, clock, drain):  # noqa: F811
    """九项准则: a referring doctor is never paid for a referral — not at payment, not when the
    operation is done, not on refund."""
    cid = refer(api, wxpay, w, drain)
    to_accepted(api, w, cid, drain)
    paperwork(api, w, cid)
    assert api.post(f"/v1/referrals/cases/{cid}/confirm", {"surgery_at": DATES[0]}, token=w.alice.token).status == 200
    clock.current = datetime(2026, 12, 10, 6, 0, tzinfo=UTC)
    w.fresh()
    assert api.post(f"/v1/doctor/referrals/cases/{cid}/done", {}, token=w.near.token).status == 200
    drain()
    # a second referral, cancelled by the host and refunded
    cid2 = refer(api, wxpay, w, drain)
    api.post(f"/v1/admin/referrals/cases/{cid2}/cancel", {"cause": "platform", "reason": "x"}, token=w.admin.token)
    drain()
    orders = {Case.get(c).order_id for c in (cid, cid2)}
    lines = [e for e in LedgerEntry.scan() if e.order_id in orders]
    assert lines and {e.party for e in lines} == {"platform"}
    assert sum(int(e.amount_fen) for e in lines if e.order_id == Case.get(cid).order_id) == 50_000
    assert list(LedgerEntry.by_party.query(f"doctor#{w.local.account_id}")) == []
    for month in ("2026-11", "2026-12"):
        assert api.get(f"/v1/doctor/earnings?month={month}", token=w.local.token).body["net_fen"] == 0
    assert all(Order.get(o).doctor_id is None for o in orders)


def test_authorization(api, w, wxpay, clock, drain):  # noqa: F811
    bob = make_patient(api)
    stranger = make_doctor(api, w.admin, name="路人医生")
    cid = refer(api, wxpay, w, drain)
    doc = upload(api, w.alice, cid, "report")
    api.post(f"/v1/admin/referrals/cases/{cid}/propose", {"surgeon_id": w.near.account_id,
                                                          "hospital_id": w.hospital}, token=w.admin.token)
    base = f"/v1/referrals/cases/{cid}"
    for user in (bob, stranger, w.far):  # another patient, an unrelated doctor, a surgeon not proposed
        assert api.get(base, token=user.token).status == 404
        assert api.get(base + "/documents", token=user.token).status == 404
        assert api.get(base + f"/documents/{doc}", token=user.token).status == 404
        assert api.post(base + "/documents", {"kind": "approval", "content_type": "application/pdf", "size": 9},
                        token=user.token).status == 404
    for user in (stranger, w.far, w.local):  # the referrer cannot act as the surgeon either
        assert api.post(f"/v1/doctor/referrals/cases/{cid}/accept", {"dates": DATES}, token=user.token).status == 404
        assert api.post(f"/v1/doctor/referrals/cases/{cid}/decline", {}, token=user.token).status == 404
        assert api.post(f"/v1/doctor/referrals/cases/{cid}/home-approval", {"doc_id": doc},
                        token=user.token).status == 404
        assert api.post(f"/v1/doctor/referrals/cases/{cid}/withdraw", {"reason": "x"}, token=user.token).status == 404
        assert api.post(f"/v1/doctor/referrals/cases/{cid}/done", {}, token=user.token).status == 404
    for path, body in (("/cancel", {}), ("/confirm", {"surgery_at": DATES[0]}),
                       ("/surgery-consent", {"accepted": True, "version": "2026-12"}),
                       ("/accept-referral", {"accepted": True, "version": "2026-12"}),
                       ("/checklist/tests/done", None)):
        assert api.post(base + path, body, token=bob.token).status == 404, path
    # a doctor refers only patients bound to them; a patient submits only for their own profiles
    other = api.post("/v1/doctor/referrals/cases", {"binding_id": w.binding["binding_id"], **case_fields()},
                     token=stranger.token)
    assert other.status == 404
    r = api.post("/v1/referrals/cases", {"profile_id": w.alice.profiles[0], "consent": {"accepted": True,
                                                                                         "version": "2026-12"},
                                         **case_fields()}, token=bob.token)
    assert r.status == 404
    # who may see it does, and reads by others are audited
    for user in (w.alice, w.local, w.near, w.admin):
        assert api.get(base, token=user.token).status == 200
    actors = {a.actor_id for a in AuditRecord.query(w.alice.profiles[0])}
    assert {w.local.account_id, w.near.account_id, w.admin.account_id} <= actors
    # bad input is 400/422, never 500
    assert api.post("/v1/referrals/cases", {"profile_id": bob.profiles[0]}, token=bob.token).status == 400
    r = api.post("/v1/referrals/cases", {"profile_id": bob.profiles[0], "consent": {"accepted": True,
                                                                                    "version": "2026-12"},
                                         **case_fields(window_from="2026-12-31", window_to="2026-12-01")},
                 token=bob.token)
    assert r.status == 422
    assert api.get("/v1/referrals/consents/other", token=bob.token).status == 404


def test_read_budgets(api, w, wxpay, clock, drain):  # noqa: F811
    cid = submit(api, wxpay, w, drain)
    to_accepted(api, w, cid, drain)
    submit(api, wxpay, w, drain)
    with count_ddb_calls() as calls:
        assert api.get(f"/v1/referrals/cases/{cid}", token=w.alice.token).status == 200
    assert calls == ["GetItem"] * 3, calls  # the case, its surgeon, its hospital
    with count_ddb_calls() as calls:
        r = api.get("/v1/referrals/cases", token=w.alice.token)
    assert len(r.body["items"]) == 2 and r.body["items"][1]["surgeon"]["name"] == "邯郸专家"
    assert calls == ["Query", "BatchGetItem", "BatchGetItem"], calls
    with count_ddb_calls() as calls:
        assert len(api.get("/v1/admin/referrals/cases?queue=triage", token=w.admin.token).body["items"]) == 1
    assert calls == ["Query"], calls  # nobody proposed yet: nothing to join
    with count_ddb_calls() as calls:
        assert api.get(f"/v1/admin/referrals/cases/{cid}/candidates", token=w.admin.token).status == 200
    assert sorted(calls) == ["BatchGetItem", "GetItem", "Query", "Query"], calls
    with count_ddb_calls() as calls:
        assert api.get("/v1/doctor/referrals/cases?side=surgeon", token=w.near.token).status == 200
    assert calls == ["Query", "BatchGetItem", "BatchGetItem"], calls


def test_hospitals_are_kept_by_operators(api, w, clock, drain):
    r = api.get(f"/v1/admin/referrals/hospitals/{w.hospital}", token=w.admin.token)
    assert r.status == 200 and r.body["windows"][0] == {"kind": "or", "starts_on": "2026-12-05",
                                                        "ends_on": "2026-12-15", "capacity": 2}
    from tests.referrals_support import hospital_body

    r = api.call("PUT", f"/v1/admin/referrals/hospitals/{w.hospital}", hospital_body(level="3B", active=False),
                 token=w.admin.token)
    assert r.status == 200 and r.body["level"] == "3B"
    assert api.get("/v1/admin/referrals/hospitals", token=w.admin.token).body["items"] == []
    bad = hospital_body(windows=[{"kind": "or", "starts_on": "2026-12-05", "ends_on": "2026-12-01"}])
    assert api.post("/v1/admin/referrals/hospitals", bad, token=w.admin.token).status == 422
    assert api.post("/v1/admin/referrals/hospitals", hospital_body(region_code="13042X"),
                    token=w.admin.token).status == 400
    assert api.call("PUT", "/v1/admin/referrals/hospitals/NOPE", hospital_body(), token=w.admin.token).status == 404


def test_every_referral_event_reaches_its_parties_in_words_without_health_data():
    from chalicelib.notifications import rules

    p = {"case_id": "C1", "patient_account_id": "P", "profile_id": "PR", "referrer_id": "L", "surgeon_id": "S",
         "hospital_id": "H", "parties": ["P", "L", "S"], "surgery_at": "2026-12-10T00:00:00+00:00",
         "item_id": "fasting", "item_title": "禁食禁水"}
    done = {"case_id": "C1", "account_id": "P", "profile_id": "PR", "doctor_id": "S",
            "done_at": "2026-12-10T06:00:00+00:00"}
    expected = {"referral.consent_requested": ["P"], "referral.proposed": ["S"], "referral.accepted": ["P", "L"],
                "referral.confirmed": ["P", "L", "S"], "referral.checklist_reminder": ["P"],
                "referral.surgeon_cancelled": ["P", "L", "S"], "referral.host_cancelled": ["P", "L", "S"],
                "referral.cancelled": ["P", "L", "S"], "referral.surgery_done": ["P"]}
    assert set(expected) == {t for t in rules.event_types() if t.startswith("referral.")}
    for event_type, to in expected.items():
        payload = done if event_type == "referral.surgery_done" else p
        routes = rules.routes(event_type, payload)
        assert [a for a, _ in routes] == to, event_type
        for _, rule in routes:
            assert rule.link == ("referral_case", "case_id")
            title, body, lock = rules.render(rule.template, rules.facts(event_type, payload))
            assert "{" not in body + lock and "膝" not in body + lock, event_type
    _, body, _ = rules.render("referral_checklist_reminder", rules.facts("referral.checklist_reminder", p))
    assert body == "请完成术前准备：禁食禁水（手术时间 2026-12-10 08:00）"
    # without the referring doctor (a patient's own case) nobody empty is addressed
    assert [a for a, _ in rules.routes("referral.accepted", {**p, "referrer_id": None})] == ["P"]
