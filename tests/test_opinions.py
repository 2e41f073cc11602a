"""Second opinion (二次诊疗) through HTTP with the real payments domain (sandbox WeChat Pay):
the whole flow, refunds at every state, access that ends with the assignment, the working-day
clock on China's official calendar, and the authorization of every party."""

from datetime import UTC, date, datetime

import pytest

from chalicelib.core import timers
from chalicelib.core.audit import AuditRecord
from chalicelib.opinions import workdays
from chalicelib.payments.models import Order, Refund
from tests.doctors_support import make_admin, make_doctor, make_patient
from tests.opinions_support import REPORT, assign, complete, make_expert, submit, upload_record
from tests.payments_support import deliver, wxpay  # noqa: F401  (fixture)
from tests.support import count_ddb_calls


@pytest.fixture
def world(api, clock, drain, wxpay):  # noqa: F811
    admin = make_admin(api)
    e1 = make_expert(api, admin, name="甲专家")
    e2 = make_expert(api, admin, name="乙专家", price_fen=150_000)
    alice = make_patient(api)
    drain()
    return admin, e1, e2, alice


def fresh(api, user):
    """A new login (tokens last 15 minutes; the tests move the clock by days)."""
    again = api.login(user.phone)
    again.profiles = user.profiles
    return again


def _records_status(api, user, case_id):
    return api.get(f"/v1/opinions/cases/{case_id}/records", token=user.token).status


def test_whole_flow(api, world, wxpay, clock, drain):  # noqa: F811
    admin, e1, e2, alice = world
    # intake: a question with markup in it, to prove the printed page escapes it
    r = api.post("/v1/opinions/cases", {
        "profile_id": alice.profiles[0], "reason": "diagnosis_doubt", "specialty": "肺癌",
        "questions": ["<script>alert(1)</script>是否必须手术？", "化疗方案？"], "diagnosis": "右肺腺癌",
        "treating_hospital": "某市人民医院"}, token=alice.token)
    assert r.status == 201, r.body
    case_id, order = r.body["case"]["case_id"], r.body["order"]
    assert r.body["case"]["status"] == "awaiting_payment" and order["amount_fen"] == 200_000
    upload_record(api, alice, case_id, kind="pathology")
    from tests.payments_support import pay

    pay(api, wxpay, alice, order["order_id"])
    assert "opinion.submitted" in drain()

    # triage: more records requested, the case waits; the patient adds them and resubmits
    q = api.get("/v1/admin/opinions/cases?queue=triage", token=admin.token).body["items"]
    assert [c["case_id"] for c in q] == [case_id]
    r = api.post(f"/v1/admin/opinions/cases/{case_id}/request-records", {"note": "请补充病理报告原件"},
                 token=admin.token)
    assert r.status == 200 and r.body["status"] == "needs_records"
    assert "opinion.more_records_requested" in drain()
    assert api.get("/v1/admin/opinions/cases?queue=triage", token=admin.token).body["items"] == []
    assert api.post(f"/v1/admin/opinions/cases/{case_id}/complete", {"summary": "x"},
                    token=admin.token).status == 409
    upload_record(api, alice, case_id, kind="imaging", content_type="image/jpeg")
    r = api.post(f"/v1/opinions/cases/{case_id}/resubmit", {}, token=alice.token)
    assert r.status == 200 and r.body["status"] == "triage"

    # complete: the clock starts (Fri 2026-11-20 → 5 working days → Fri 11-27 end of day)
    body = complete(api, admin, case_id, drain)
    assert body["status"] == "matching" and body["deadline_at"] == "2026-11-27T23:59:59+08:00"

    # matched by specialty and load (both idle: the lower id first)
    r = api.post(f"/v1/admin/opinions/cases/{case_id}/assign", {}, token=admin.token)
    assert r.status == 200 and r.body["status"] == "assigned", r.body
    first = r.body["expert"]["doctor_id"]
    holder, other = (e1, e2) if first == e1.account_id else (e2, e1)
    assert "opinion.assigned" in drain()
    assert _records_status(api, holder, case_id) == 200
    rec = api.get(f"/v1/opinions/cases/{case_id}/records", token=holder.token).body["items"][0]
    assert api.get(f"/v1/opinions/cases/{case_id}/records/{rec['record_id']}", token=holder.token).status == 200
    reads = [a for a in AuditRecord.query(alice.profiles[0]) if a.actor_id == holder.account_id]
    assert {a.object_type for a in reads} == {"opinion_records", "opinion_record"}
    assert _records_status(api, other, case_id) == 404

    # declined → re-matched to the other expert; the decliner's access ends
    assert api.post(f"/v1/doctor/opinions/cases/{case_id}/decline", {"reason": "太忙"},
                    token=holder.token).status == 200
    events = drain()
    assert "opinion.declined" in events and "opinion.assigned" in events
    assert _records_status(api, holder, case_id) == 404
    assert api.get(f"/v1/opinions/cases/{case_id}", token=holder.token).status == 404
    held = api.get("/v1/doctor/opinions/cases", token=other.token).body["items"]
    assert [c["case_id"] for c in held] == [case_id]
    assert api.get("/v1/doctor/opinions/cases", token=holder.token).body["items"] == []

    r = api.post(f"/v1/doctor/opinions/cases/{case_id}/accept", token=other.token)
    assert r.status == 200 and r.body["status"] == "accepted"
    assert "opinion.accepted" in drain()
    assert api.post(f"/v1/opinions/cases/{case_id}/withdraw", token=alice.token).error_code == \
        "refund_needs_operator"

    # questions in the case thread
    r = api.post(f"/v1/opinions/cases/{case_id}/messages", {"text": "是否做过基因检测？"}, token=other.token)
    assert r.status == 201 and r.body["kind"] == "question"
    r = api.post(f"/v1/opinions/cases/{case_id}/messages", {"text": "做过，EGFR 阴性", "reply_to": r.body["message_id"]},
                 token=alice.token)
    assert r.status == 201 and r.body["kind"] == "answer"
    events = drain()
    assert "opinion.question_asked" in events and "opinion.question_answered" in events
    thread = api.get(f"/v1/opinions/cases/{case_id}/messages", token=alice.token).body["items"]
    assert [m["kind"] for m in thread] == ["question", "answer"]

    # the report: every question answered once
    bad = {**REPORT, "answers": REPORT["answers"][:1]}
    assert api.post(f"/v1/doctor/opinions/cases/{case_id}/report", bad, token=other.token).error_code == \
        "answers_incomplete"
    clock.advance(hours=20)
    other, alice, admin, holder = fresh(api, other), fresh(api, alice), fresh(api, admin), fresh(api, holder)
    r = api.post(f"/v1/doctor/opinions/cases/{case_id}/report",
                 {**REPORT, "note_to_treating_doctor": "<b>请复核</b>"}, token=other.token)
    assert r.status == 201, r.body
    assert "opinion.report_published" in drain()
    assert _records_status(api, other, case_id) == 404  # finished: records closed
    rep = api.get(f"/v1/opinions/cases/{case_id}/report", token=alice.token)
    assert rep.status == 200 and rep.body["report"]["diagnosis_review"] == "refined"
    page = api.get(f"/v1/opinions/cases/{case_id}/report.html", token=alice.token)
    assert page.status == 200 and page.headers["Content-Type"].startswith("text/html")
    html = page.body.decode()
    assert "<script>alert" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;b&gt;请复核&lt;/b&gt;" in html and "@media print" in html

    # the expert's share is credited on publication (payments booked it all to the platform first)
    month = "2026-11"
    earn = api.get(f"/v1/doctor/earnings?month={month}", token=other.token).body
    assert earn["net_fen"] == 180_000, earn
    assert api.get(f"/v1/doctor/earnings?month={month}", token=holder.token).body["net_fen"] == 0

    # share with the treating doctor: a short-lived link, no login
    link = api.post(f"/v1/opinions/cases/{case_id}/share", token=alice.token)
    assert link.status == 201
    path = link.body["url"].split("://", 1)[1].split("/", 1)[1]
    shared = api.get("/" + path)
    assert shared.status == 200 and "&lt;script&gt;" in shared.body.decode()
    assert api.get("/" + path[:-3] + "000").status == 404

    # follow-ups (3 within 14 days) answered as addenda
    ids = []
    for i in range(3):
        r = api.post(f"/v1/opinions/cases/{case_id}/followups", {"text": f"追问 {i}"}, token=alice.token)
        assert r.status == 201, r.body
        ids.append(r.body["message_id"])
    assert api.post(f"/v1/opinions/cases/{case_id}/followups", {"text": "再问"}, token=alice.token).error_code == \
        "followups_used_up"
    assert "opinion.followup_asked" in drain()
    r = api.post(f"/v1/doctor/opinions/cases/{case_id}/addenda", {"text": "补充：可考虑免疫治疗", "reply_to": ids[0]},
                 token=other.token)
    assert r.status == 201 and r.body["kind"] == "addendum"
    assert "opinion.addendum_published" in drain()
    addenda = api.get(f"/v1/opinions/cases/{case_id}/report", token=alice.token).body["addenda"]
    assert [a["kind"] for a in addenda] == ["followup"] * 3 + ["addendum"]

    # the outcome questionnaire 30 days later; operators' counters
    clock.advance(days=30, minutes=1)
    timers.sweep()
    assert "opinion.outcome_requested" in drain()
    gone = api.get(f"/v1/opinions/shared/{path.rsplit('/', 1)[1]}")  # the link has expired
    assert gone.status == 404 and gone.headers["Content-Type"].startswith("text/html")  # a page, as documented
    alice, admin = fresh(api, alice), fresh(api, admin)
    r = api.post(f"/v1/opinions/cases/{case_id}/outcome", {"followed_advice": "yes", "treatment_changed": True},
                 token=alice.token)
    assert r.status == 200
    assert api.post(f"/v1/opinions/cases/{case_id}/outcome", {"followed_advice": "no", "treatment_changed": False},
                    token=alice.token).status == 409
    with count_ddb_calls() as calls:
        stats = api.get("/v1/admin/opinions/stats", token=admin.token).body
    assert calls == ["GetItem"]
    assert stats["paid"] == 1 and stats["reports"] == 1 and stats["refined_share"] == 1.0
    assert stats["refund_rate"] == 0.0 and stats["followed_share"] == 1.0
    assert 0 < stats["avg_turnaround_hours"] < 24


def _to_accepted(api, world, wxpay, drain):  # noqa: F811
    admin, e1, e2, alice = world
    case_id = submit(api, wxpay, alice, drain, expert_id=e1.account_id)
    body = complete(api, admin, case_id, drain)
    assert body["status"] == "assigned" and body["price_fen"] == 200_000
    assert api.post(f"/v1/doctor/opinions/cases/{case_id}/accept", token=e1.token).status == 200
    drain()
    return case_id


def _refund_of(case_id):
    from chalicelib.opinions.models import Case

    order_id = Case.get(case_id).order_id
    return [r for r in Refund.scan(Refund.order_id == order_id)], Order.get(order_id)


def test_deadline_refund_by_timer(api, world, wxpay, clock, drain):  # noqa: F811
    admin, e1, e2, alice = world
    case_id = _to_accepted(api, world, wxpay, drain)
    clock.advance(days=7, hours=14)  # Fri 11-20 10:00 → Sat 11-28 00:00, past Fri 11-27 23:59:59
    timers.sweep()
    events = drain()
    assert "opinion.refunded" in events
    refunds, order = _refund_of(case_id)
    assert len(refunds) == 1 and refunds[0].amount_fen == 200_000
    assert deliver(api, *wxpay.complete_refund(refunds[0].refund_id),
                   path="/v1/payments/wechat/refund-notify").status == 204
    assert (Order.get(order.order_id).status, Order.get(order.order_id).refunded_fen) == ("refunded", 200_000)
    e1, alice = fresh(api, e1), fresh(api, alice)
    assert api.get(f"/v1/opinions/cases/{case_id}", token=alice.token).body["status"] == "refunded"
    assert _records_status(api, e1, case_id) == 404
    assert api.post(f"/v1/doctor/opinions/cases/{case_id}/report", REPORT, token=e1.token).status == 404
    assert api.get("/v1/doctor/opinions/offer", token=e1.token).body["open_cases"] == 0


def test_refund_rules_at_each_state(api, world, wxpay, clock, drain):  # noqa: F811
    admin, e1, e2, alice = world
    # unpaid: withdrawing closes the order, nothing to refund
    r = api.post("/v1/opinions/cases", {"profile_id": alice.profiles[0], "reason": "other", "questions": ["?"],
                                        "diagnosis": "d", "treating_hospital": "h", "specialty": "肺癌"},
                 token=alice.token)
    cid = r.body["case"]["case_id"]
    assert api.post(f"/v1/opinions/cases/{cid}/withdraw", token=alice.token).body["status"] == "withdrawn"
    drain()
    assert Order.get(r.body["order"]["order_id"]).status == "closed"
    # in triage: full refund
    cid = submit(api, wxpay, alice, drain)
    assert api.post(f"/v1/opinions/cases/{cid}/withdraw", token=alice.token).body["status"] == "refunded"
    drain()
    assert len(_refund_of(cid)[0]) == 1
    # assigned (not yet accepted): full refund, the expert's load released
    cid = submit(api, wxpay, alice, drain, expert_id=e2.account_id)
    complete(api, admin, cid, drain)
    assert api.get("/v1/doctor/opinions/offer", token=e2.token).body["open_cases"] == 1
    assert api.post(f"/v1/opinions/cases/{cid}/withdraw", token=alice.token).body["status"] == "refunded"
    drain()
    assert api.get("/v1/doctor/opinions/offer", token=e2.token).body["open_cases"] == 0
    refunds, order = _refund_of(cid)
    assert len(refunds) == 1 and refunds[0].amount_fen == 150_000 == order.amount_fen
    # accepted: the patient cannot; an operator can, with a reason, never for disagreement
    cid = _to_accepted(api, world, wxpay, drain)
    assert api.post(f"/v1/opinions/cases/{cid}/withdraw", token=alice.token).status == 409
    r = api.post(f"/v1/admin/opinions/cases/{cid}/refund", {"ground": "disagreement", "reason": "不认同"},
                 token=admin.token)
    assert r.status == 422 and r.error_code == "not_a_refund_ground"
    r = api.post(f"/v1/admin/opinions/cases/{cid}/refund", {"ground": "service_failure", "reason": "专家失联"},
                 token=admin.token)
    assert r.status == 200 and r.body["status"] == "refunded"
    drain()
    assert len(_refund_of(cid)[0]) == 1
    assert api.post(f"/v1/admin/opinions/cases/{cid}/refund", {"ground": "other", "reason": "again"},
                    token=admin.token).status == 409
    # reported: no refund
    cid = _to_accepted(api, world, wxpay, drain)
    assert api.post(f"/v1/doctor/opinions/cases/{cid}/report", REPORT, token=e1.token).status == 201
    drain()
    r = api.post(f"/v1/admin/opinions/cases/{cid}/refund", {"ground": "other", "reason": "x"}, token=admin.token)
    assert r.status == 409 and r.error_code == "report_published"
    assert _refund_of(cid)[0] == []
    stats = api.get("/v1/admin/opinions/stats", token=admin.token).body
    assert stats["refunds_by_ground"] == {"withdrawn": 2, "no_expert": 0, "deadline": 0, "operator": 1}


def test_no_answer_rematches_then_refunds(api, world, wxpay, clock, drain):  # noqa: F811
    admin, e1, e2, alice = world
    case_id = submit(api, wxpay, alice, drain)
    complete(api, admin, case_id, drain)
    assign(api, admin, case_id, e2, drain)
    clock.advance(hours=24, minutes=1)
    timers.sweep()
    events = drain()
    assert events.count("opinion.declined") == 1 and events.count("opinion.assigned") == 1
    e1, e2 = fresh(api, e1), fresh(api, e2)
    assert _records_status(api, e2, case_id) == 404 and _records_status(api, e1, case_id) == 200
    assert api.post(f"/v1/doctor/opinions/cases/{case_id}/decline", {}, token=e1.token).status == 200
    events = drain()  # nobody left who has not been asked: full refund
    assert "opinion.refunded" in events and "opinion.assigned" not in events
    refunds, _ = _refund_of(case_id)
    assert len(refunds) == 1
    admin = fresh(api, admin)
    assert api.get("/v1/admin/opinions/stats", token=admin.token).body["refunds_by_ground"]["no_expert"] == 1
    assert api.post(f"/v1/doctor/opinions/cases/{case_id}/accept", token=e1.token).status == 404


def test_working_days_on_the_official_calendar():
    # National Day 2026: Oct 1–7 off, Sat Oct 10 a make-up working day (调休)
    start = datetime(2026, 9, 30, 2, 0, tzinfo=UTC)  # Wed 10:00 in Shanghai
    assert workdays.deadline_after(start, 5).isoformat() == "2026-10-13T23:59:59+08:00"
    assert workdays.deadline_after(start, 3).isoformat() == "2026-10-10T23:59:59+08:00"  # the Saturday counts
    assert not workdays.is_workday(date(2026, 10, 5)) and workdays.is_workday(date(2026, 10, 10))
    # past the years the package covers: Monday–Friday
    assert not workdays.covered(date(2031, 1, 1))
    assert workdays.deadline_after(datetime(2031, 1, 3, 2, 0, tzinfo=UTC), 1).isoformat() == \
        "2031-01-06T23:59:59+08:00"


def test_working_day_deadline_through_http(api, world, wxpay, clock, drain):  # noqa: F811
    admin, e1, e2, alice = world
    clock.current = datetime(2026, 9, 30, 2, 0, tzinfo=UTC)
    admin, alice = fresh(api, admin), fresh(api, alice)
    case_id = submit(api, wxpay, alice, drain)
    body = complete(api, admin, case_id, drain)
    assert body["deadline_at"] == "2026-10-13T23:59:59+08:00"
    clock.current = datetime(2026, 10, 13, 15, 0, tzinfo=UTC)  # Oct 13 23:00 in Shanghai: not yet
    timers.sweep()
    assert "opinion.refunded" not in drain()
    clock.current = datetime(2026, 10, 13, 16, 0, tzinfo=UTC)  # Oct 14 00:00 in Shanghai
    timers.sweep()
    assert "opinion.refunded" in drain()


def test_authorization(api, world, wxpay, clock, drain):  # noqa: F811
    admin, e1, e2, alice = world
    bob = make_patient(api)
    plain = make_doctor(api, admin, name="普通医生")  # a verified doctor who offers no second opinions
    case_id = submit(api, wxpay, alice, drain)
    complete(api, admin, case_id, drain)
    assign(api, admin, case_id, e1, drain)
    base = f"/v1/opinions/cases/{case_id}"
    for user in (bob, e2, plain):  # another patient, an unassigned expert, a doctor who is not an expert
        assert api.get(base, token=user.token).status == 404
        assert api.get(base + "/records", token=user.token).status == 404
        assert api.get(base + "/messages", token=user.token).status == 404
        assert api.get(base + "/report", token=user.token).status == 404
    for user in (e2, plain):
        for action in ("accept", "decline"):
            assert api.post(f"/v1/doctor/opinions/cases/{case_id}/{action}", {}, token=user.token).status == 404
        assert api.post(f"/v1/doctor/opinions/cases/{case_id}/report", REPORT, token=user.token).status == 404
        assert api.post(base + "/messages", {"text": "hi"}, token=user.token).status == 404
    for path in ("/withdraw", "/resubmit", "/followups", "/share"):
        assert api.post(base + path, {"text": "x"} if path == "/followups" else {}, token=bob.token).status == 404
    assert api.post(base + "/records", {"kind": "other", "content_type": "application/pdf", "size": 10},
                    token=bob.token).status == 404
    # a case for a profile of another account
    r = api.post("/v1/opinions/cases", {"profile_id": alice.profiles[0], "reason": "other", "questions": ["?"],
                                        "diagnosis": "d", "treating_hospital": "h", "specialty": "肺癌"},
                 token=bob.token)
    assert r.status == 404
    # the diagnosis and the treating hospital are required
    r = api.post("/v1/opinions/cases", {"profile_id": bob.profiles[0], "reason": "other", "questions": ["?"],
                                        "specialty": "肺癌"}, token=bob.token)
    assert r.status == 400
    # an unverified doctor cannot opt in
    unverified = api.login("13711112222")
    api.post("/v1/doctor/application", {"name": "新医生", "hospital": "h", "department": "d", "title": "chief",
                                        "specialties": [], "licence_no": "110101199001011234"}, token=unverified.token)
    r = api.call("PUT", "/v1/doctor/opinions/offer", {"price_fen": 1000, "specialties": ["肺癌"]},
                 token=unverified.token)
    assert r.status in (403, 422)
    # the holder sees it, operators see it (audited)
    assert api.get(base, token=e1.token).status == 200
    assert api.get(base, token=admin.token).status == 200
    actors = {a.actor_id for a in AuditRecord.query(alice.profiles[0])}
    assert {e1.account_id, admin.account_id} <= actors


def test_create_case_budget(api, world, wxpay, drain):  # noqa: F811
    admin, e1, e2, alice = world
    body = {"profile_id": alice.profiles[0], "reason": "other", "questions": ["?"], "diagnosis": "d",
            "treating_hospital": "h", "specialty": "肺癌", "expert_id": e1.account_id}
    with count_ddb_calls() as calls:
        assert api.post("/v1/opinions/cases", body, token=alice.token).status == 201
    # profile + expert reads, case put, order transaction, order id on the case
    assert len(calls) <= 5, calls
    with count_ddb_calls() as calls:
        assert api.get("/v1/opinions/experts?specialty=肺癌", token=alice.token).status == 200
    assert calls == ["Query", "BatchGetItem"]


def _reported(api, world, wxpay, drain):  # noqa: F811
    case_id = _to_accepted(api, world, wxpay, drain)
    assert api.post(f"/v1/doctor/opinions/cases/{case_id}/report", REPORT, token=world[1].token).status == 201
    drain()
    return case_id


def test_followups_close_14_days_after_the_report(api, world, wxpay, clock, drain):  # noqa: F811
    admin, e1, e2, alice = world
    case_id = _reported(api, world, wxpay, drain)
    clock.advance(days=14, minutes=-1)
    alice = fresh(api, alice)
    assert api.post(f"/v1/opinions/cases/{case_id}/followups", {"text": "还来得及吗？"}, token=alice.token).status == 201
    assert api.get(f"/v1/opinions/cases/{case_id}", token=alice.token).body["followups_left"] == 2
    clock.advance(minutes=1)  # 14 days to the second: closed, as followups_left already says
    alice = fresh(api, alice)
    assert api.get(f"/v1/opinions/cases/{case_id}", token=alice.token).body["followups_left"] == 0
    r = api.post(f"/v1/opinions/cases/{case_id}/followups", {"text": "再问一句"}, token=alice.token)
    assert (r.status, r.error_code) == (422, "followup_window_over")
    clock.advance(days=1)
    alice = fresh(api, alice)
    r = api.post(f"/v1/opinions/cases/{case_id}/followups", {"text": "再问一句"}, token=alice.token)
    assert (r.status, r.error_code) == (422, "followup_window_over")
    assert "opinion.followup_asked" in drain()  # the one in time only
    addenda = api.get(f"/v1/opinions/cases/{case_id}/report", token=alice.token).body["addenda"]
    assert [a["text"] for a in addenda] == ["还来得及吗？"]


def _holder(api, admin, case_id):
    case = api.get(f"/v1/opinions/cases/{case_id}", token=admin.token).body
    return case["status"], (case["expert"] or {}).get("doctor_id")


def test_rematch_cap_refunds_with_an_expert_left(api, world, wxpay, clock, drain):  # noqa: F811
    admin, e1, e2, alice = world
    e3, e4 = make_expert(api, admin, name="丙专家"), make_expert(api, admin, name="丁专家")
    experts = {e.account_id: e for e in (e1, e2, e3, e4)}
    drain()
    case_id = submit(api, wxpay, alice, drain)
    complete(api, admin, case_id, drain)
    assert api.post(f"/v1/admin/opinions/cases/{case_id}/assign", {}, token=admin.token).status == 200
    drain()
    asked = []
    for i in range(3):  # declined, no answer in 24 h, declined: the third is the last allowed
        status, holder = _holder(api, admin, case_id)
        assert status == "assigned" and holder not in asked
        asked.append(holder)
        if i == 1:
            clock.advance(hours=24, minutes=1)
            timers.sweep()
            admin = fresh(api, admin)
        else:
            h = experts[holder] if i == 0 else fresh(api, experts[holder])  # a new login after the 24 h
            assert api.post(f"/v1/doctor/opinions/cases/{case_id}/decline", {}, token=h.token).status == 200
        events = drain()
        assert "opinion.declined" in events
    assert "opinion.refunded" in events and "opinion.assigned" not in events
    assert _holder(api, admin, case_id)[0] == "refunded"
    (left,) = set(experts) - set(asked)  # available, idle, never asked
    spare = fresh(api, experts[left])
    assert api.get("/v1/doctor/opinions/offer", token=spare.token).body["open_cases"] == 0
    assert api.get("/v1/doctor/opinions/cases", token=spare.token).body["items"] == []
    refunds, order = _refund_of(case_id)
    assert len(refunds) == 1 and refunds[0].amount_fen == order.amount_fen == 200_000
    stats = api.get("/v1/admin/opinions/stats", token=admin.token).body
    assert stats["refunds_by_ground"]["no_expert"] == 1


def test_matching_by_relative_load_and_availability(api, world, wxpay, clock, drain):  # noqa: F811
    from chalicelib.opinions.models import Expert

    admin, a, b, alice = world  # both max_open 5
    c = make_expert(api, admin, name="丙专家", max_open=10)
    idle = make_expert(api, admin, name="闲专家", available=False)  # no load, but not available
    full = make_expert(api, admin, name="满专家", max_open=1)
    drain()
    for e, load in ((a, 2), (b, 3), (c, 3), (full, 1)):  # relative: a 0.4, b 0.6, c 0.3, full 1.0
        Expert(e.account_id).update(actions=[Expert.open_cases.set(load)])

    def match():
        case_id = submit(api, wxpay, alice, drain)
        complete(api, admin, case_id, drain)
        return api.post(f"/v1/admin/opinions/cases/{case_id}/assign", {}, token=admin.token)

    r = match()  # c holds the most cases but is the least loaded for its limit
    assert r.status == 200 and r.body["expert"]["doctor_id"] == c.account_id
    r = match()  # a and c both at 0.4 now: fewer open cases first
    assert r.status == 200 and r.body["expert"]["doctor_id"] == a.account_id
    r = match()  # a 0.6 = b 0.6 > c 0.4
    assert r.body["expert"]["doctor_id"] == c.account_id
    for e in (a, b, c):  # away: only the unavailable and the full expert are left
        assert api.call("PUT", "/v1/doctor/opinions/offer", {"price_fen": 200_000, "specialties": ["肺癌"],
                                                             "max_open": 10, "available": False},
                        token=e.token).status == 200
    r = match()
    assert (r.status, r.error_code) == (422, "no_expert")
    assert api.get("/v1/doctor/opinions/cases", token=idle.token).body["items"] == []
    assert api.get("/v1/doctor/opinions/offer", token=full.token).body["open_cases"] == 1


def test_accept_after_the_response_window(api, world, wxpay, clock, drain):  # noqa: F811
    admin, e1, e2, alice = world
    case_id = submit(api, wxpay, alice, drain)
    complete(api, admin, case_id, drain)
    assign(api, admin, case_id, e1, drain)
    clock.advance(hours=24)  # respond_by; the timer has not been swept yet
    e1, e2, admin = fresh(api, e1), fresh(api, e2), fresh(api, admin)
    r = api.post(f"/v1/doctor/opinions/cases/{case_id}/accept", token=e1.token)
    assert (r.status, r.error_code) == (409, "response_window_over")
    assert _holder(api, admin, case_id) == ("assigned", e1.account_id)
    timers.sweep()
    events = drain()
    assert "opinion.declined" in events and "opinion.assigned" in events
    assert _holder(api, admin, case_id) == ("assigned", e2.account_id)
    clock.advance(hours=23, minutes=59)  # within the next expert's own 24 h
    e2 = fresh(api, e2)
    r = api.post(f"/v1/doctor/opinions/cases/{case_id}/accept", token=e2.token)
    assert r.status == 200 and r.body["status"] == "accepted"


def test_records_count_once_the_file_arrived(api, world, wxpay, drain):  # noqa: F811
    from chalicelib.core.aws import client
    from chalicelib.core.config import get_settings
    from chalicelib.opinions.models import CaseRecord

    admin, e1, e2, alice = world
    case_id = submit(api, wxpay, alice, drain, expert_id=e1.account_id)
    base = f"/v1/opinions/cases/{case_id}/records"
    never = upload_record(api, alice, case_id, really=False, confirm=False)  # presigned, never uploaded
    r = api.post(f"{base}/{never}/confirm", token=alice.token)
    assert (r.status, r.error_code) == (422, "record_not_uploaded")
    assert api.post(f"{base}/{never}/confirm", token=make_patient(api).token).status == 404
    arrived = upload_record(api, alice, case_id)
    assert complete(api, admin, case_id, drain)["status"] == "assigned"
    mine = api.get(base, token=alice.token).body["items"]
    assert {i["record_id"]: i["uploaded"] for i in mine} == {never: False, arrived: True}
    for user in (e1, admin):  # the file that never came is not shown to anyone else
        assert [i["record_id"] for i in api.get(base, token=user.token).body["items"]] == [arrived]
        assert api.get(f"{base}/{never}", token=user.token).status == 404
        assert api.get(f"{base}/{arrived}", token=user.token).status == 200
    r = api.get(f"{base}/{never}", token=alice.token)
    assert (r.status, r.error_code) == (422, "record_not_uploaded")
    # the file arrives late (within the upload's 10 minutes): confirmed now, it counts
    key = CaseRecord.get(case_id, never).key
    client("s3").put_object(Bucket=get_settings().attachments_bucket, Key=key, Body=b"%PDF")
    for _ in range(2):  # confirming twice is harmless
        r = api.post(f"{base}/{never}/confirm", token=alice.token)
        assert r.status == 200 and r.body["uploaded"]
    assert {i["record_id"] for i in api.get(base, token=e1.token).body["items"]} == {never, arrived}


def test_share_link_takes_ascii_digits_only(api, world, wxpay, drain):  # noqa: F811
    from urllib.parse import quote, unquote

    admin, e1, e2, alice = world
    case_id = _reported(api, world, wxpay, drain)
    url = api.post(f"/v1/opinions/cases/{case_id}/share", token=alice.token).body["url"]
    token = unquote(url.rsplit("/", 1)[1])
    assert api.get(f"/v1/opinions/shared/{quote(token)}").status == 200
    cid, exp, sig = token.split(".")
    # the same expiry in Arabic-Indic digits (int() reads them, so the signature matched) and in
    # superscripts (str.isdigit() says yes, int() raises). Unquoted: API Gateway hands the handler
    # decoded path parameters, the local test gateway hands over the path as given.
    for digits in ("٠١٢٣٤٥٦٧٨٩", "⁰¹²³⁴⁵⁶⁷⁸⁹", "０１２３４５６７８９"):
        odd = exp.translate(str.maketrans("0123456789", digits))
        r = api.get(f"/v1/opinions/shared/{cid}.{odd}.{sig}")
        assert r.status == 404, (digits, r.status)
        assert r.headers["Content-Type"].startswith("text/html")
