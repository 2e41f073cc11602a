"""Follow-up (随访) and second-opinion (二次诊疗) events reach the right person on the right
channels with the right words: a table over payloads shaped as the emitting code shapes them,
then two real flows through HTTP (an urgent follow-up answer at night reaches the doctor at once;
a published opinion report reaches the patient, and nobody's lock screen names a diagnosis)."""

from __future__ import annotations

import pytest

from chalicelib.core.ids import new_id
from chalicelib.notifications import delivery, rules
from chalicelib.notifications.models import Delivery
from tests.doctors_support import make_admin, make_doctor, make_patient
from tests.followup_support import World, answers, tick
from tests.notify_support import fake_providers, received, stop_pointing
from tests.opinions_support import REPORT, complete, make_expert, submit
from tests.payments_support import wxpay  # noqa: F401  (fixture)

pytestmark = pytest.mark.enable_socket  # the fake providers listen on a loopback port


@pytest.fixture
def fake(aws):
    url, _ = fake_providers()
    yield url
    stop_pointing()


def device(api, user):
    r = api.post("/v1/devices", {"platform": "android", "provider": "jpush", "token": f"tok{new_id()}",
                                 "app_version": "1.0.0", "locale": "zh-CN"}, token=user.token)
    assert r.status == 201, r.body


def inbox(api, user, event_type=None):
    items = api.get("/v1/notifications?limit=100", token=user.token).body["items"]
    return [i for i in items if event_type is None or i["event_type"] == event_type]


# Payloads with exactly the keys the emitters put in them (followup.service.task_event /
# _alert_event, followup.research's export_ready, opinions.common.payload and its extras).
def _task(p):
    return {"plan_id": "PL1", "task_id": "pain.0000", "item_id": "pain", "kind": "questionnaire", "template_id": "T1",
            "doctor_id": p["doctor"], "profile_id": "PR1", "patient_account_id": p["patient"], "binding_id": "B1",
            "due_at": "2026-11-21T01:00:00+00:00", "window_ends_at": "2026-11-24T01:00:00+00:00"}


def _alert(p, severity):
    return {"alert_id": "AL1", "severity": severity, "critical": severity == "urgent", "digest": severity == "routine",
            "raise_count": 1, "doctor_id": p["doctor"], "profile_id": "PR1", "patient_account_id": p["patient"],
            "plan_id": "PL1", "task_id": "pain.0000"}


def _case(p, **extra):
    return {"case_id": "CA1", "patient_account_id": p["patient"], "profile_id": "PR1", "expert_id": p["expert"],
            **extra}


CASES = [
    # event type, payload, recipients, channels, rule key, link
    ("followup.task_due", _task, ["patient"], {"inbox", "push", "wechat"}, "followup.task_due",
     ("followup_plan", "PL1")),
    ("followup.task_reminder", _task, ["patient"], {"inbox", "push", "wechat"}, "followup.task_reminder",
     ("followup_plan", "PL1")),
    ("followup.task_missed", lambda p: {**_task(p), "template_id": "T1", "counts": {}}, ["patient"],
     {"inbox", "push"}, "followup.task_missed", ("followup_plan", "PL1")),
    ("followup.alert_raised", lambda p: _alert(p, "urgent"), ["doctor"], {"inbox", "push", "sms"},
     "followup.alert_raised#urgent", ("followup_alert", "AL1")),
    ("followup.alert_raised", lambda p: {**_alert(p, "urgent"), "reraised": True}, ["doctor"],
     {"inbox", "push", "sms"}, "followup.alert_raised#urgent", ("followup_alert", "AL1")),
    ("followup.alert_raised", lambda p: _alert(p, "routine"), ["doctor"], {"inbox", "push"},
     "followup.alert_raised", ("followup_alert", "AL1")),
    ("followup.export_ready", lambda p: {"export_id": "EX1", "doctor_id": p["doctor"], "template_id": "T1"},
     ["doctor"], {"inbox"}, "followup.export_ready", ("followup_export", "EX1")),
    ("opinion.more_records_requested", _case, ["patient"], {"inbox", "push", "sms"},
     "opinion.more_records_requested", ("opinion_case", "CA1")),
    ("opinion.completed", lambda p: _case(p, deadline_at="2026-11-27T15:59:59+00:00"), ["patient"],
     {"inbox", "push"}, "opinion.completed", ("opinion_case", "CA1")),
    ("opinion.assigned", lambda p: _case(p, attempt=1, respond_by="2026-11-21T02:00:00+00:00"), ["expert"],
     {"inbox", "push", "sms"}, "opinion.assigned", ("opinion_case", "CA1")),
    ("opinion.accepted", _case, ["patient"], {"inbox", "push"}, "opinion.accepted", ("opinion_case", "CA1")),
    ("opinion.question_asked", lambda p: _case(p, message_id="M1"), ["patient"], {"inbox", "push"},
     "opinion.question_asked", ("opinion_case", "CA1")),
    ("opinion.question_answered", lambda p: _case(p, message_id="M1"), ["expert"], {"inbox", "push"},
     "opinion.question_answered", ("opinion_case", "CA1")),
    ("opinion.report_published", lambda p: _case(p, order_id="O1"), ["patient"], {"inbox", "push", "sms"},
     "opinion.report_published", ("opinion_case", "CA1")),
    ("opinion.followup_asked", lambda p: _case(p, message_id="M1"), ["expert"], {"inbox", "push"},
     "opinion.followup_asked", ("opinion_case", "CA1")),
    ("opinion.addendum_published", lambda p: _case(p, message_id="M1"), ["patient"], {"inbox", "push"},
     "opinion.addendum_published", ("opinion_case", "CA1")),
    ("opinion.outcome_requested", _case, ["patient"], {"inbox", "push", "wechat"}, "opinion.outcome_requested",
     ("opinion_case", "CA1")),
    # refunded while an expert held it: the patient (critical) and the holder (their own words)
    ("opinion.refunded", lambda p: _case(p, ground="operator", order_id="O1", previous="accepted",
                                         holder_id=p["expert"]),
     ["patient", "expert"], {"inbox", "push", "sms"}, "opinion.refunded", ("opinion_case", "CA1")),
    # refunded before anyone held it (withdrawn in triage): the patient only
    ("opinion.refunded", lambda p: _case(p, ground="withdrawn", order_id="O1", previous="triage", holder_id=None,
                                         expert_id=None),
     ["patient"], {"inbox", "push", "sms"}, "opinion.refunded", ("opinion_case", "CA1")),
]


@pytest.fixture
def people(clock, api, drain, fake):
    admin = make_admin(api)
    doctor = make_doctor(api, admin)
    expert = make_doctor(api, admin, name="李专家")
    alice = make_patient(api)
    drain()
    for u in (doctor, expert, alice):
        device(api, u)
    return {"doctor": doctor, "expert": expert, "patient": alice, "admin": admin}


@pytest.mark.parametrize("event_type,shape,to,channels,key,link", CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_each_new_event_reaches_its_recipients(api, people, fake, event_type, shape, to, channels, key, link):
    ids = {k: u.account_id for k, u in people.items()}
    payload = shape(ids)
    if event_type == "followup.task_reminder":  # pushed only while the task is still open (stale check)
        from chalicelib.core.clock import now
        from chalicelib.followup.models import Task

        Task(payload["plan_id"], payload["task_id"], item_id="pain", occurrence=0, kind="questionnaire",
             status="open", due_at=now(), window_ends_at=now(), remind_at=now()).save()
    assert rules.rule_key(event_type, payload) == key
    event_id = new_id()
    delivery.handle(event_type, event_id, payload)
    for who, user in people.items():
        got = inbox(api, user, event_type)
        if who not in to:
            assert got == [] and not [d for d in Delivery.by_account.query(user.account_id)
                                      if d.key.startswith(event_id)], who
            continue
        rule = rules.rule_for(event_type, payload, user.account_id)
        t = rules.TEMPLATES[rule.template]
        assert len(got) == 1 and got[0]["title"] == t.title, (who, got)
        assert got[0]["link"] == {"type": link[0], "id": link[1]}
        assert "{" not in got[0]["body"] and " - " not in got[0]["body"], got[0]["body"]
        mine = {d.channel: d for d in Delivery.by_account.query(user.account_id) if d.key.startswith(event_id)}
        want = channels if rule is rules.RULES[key] else set(rule.channels)
        assert set(mine) | {"inbox"} == want, (who, set(mine))
        if "push" not in rule.channels:
            continue
        if rule.urgency == "low":
            assert mine["push"].status == "not_sent" and mine["push"].reason == "daily_digest"
        else:
            assert mine["push"].status == "sent", (who, mine["push"].status, mine["push"].reason)
    pushes = [p for p in received(fake, "jpush") if p["body"]["notification"]["alert"] != ""]
    expected = [rules.TEMPLATES[rules.rule_for(event_type, payload, ids[w]).template].lock for w in to
                if rules.rule_for(event_type, payload, ids[w]).urgency != "low"
                and "push" in rules.rule_for(event_type, payload, ids[w]).channels]
    assert sorted(p["body"]["notification"]["alert"] for p in pushes) == sorted(expected)


def test_the_critical_set_grows_by_the_urgent_alert_and_the_opinion_refund_only():
    critical = {k for k, r in rules.RULES.items() if r.critical}
    assert critical == {"consultation.refunded", "booking.cancelled#doctor", "order.paid", "order.refunded",
                        "followup.alert_raised#urgent", "opinion.refunded"}


def test_opinion_submitted_notifies_nobody_there_is_no_operator_address():
    assert "opinion.submitted" not in rules.event_types()


def test_lock_screens_and_sms_name_no_health_data():
    words = ("诊断", "腺癌", "疼痛", "体温", "分数", "评分", "结果")
    for name in [r.template for k, r in rules.RULES.items() if k.startswith(("followup.", "opinion."))]:
        t = rules.TEMPLATES[name]
        assert not [w for w in words if w in t.lock], name
        if t.sms:  # an SMS says the body; it too names no health data
            assert not [w for w in words if w in t.body], name


# --- real flows through HTTP -----------------------------------------------------------------

def test_urgent_followup_answer_at_night_reaches_the_doctor_at_once(api, clock, drain, fake):
    w = World(api)
    drain()
    device(api, w.doctor)
    device(api, w.alice)
    plan = w.assign(w.template()["template_id"], w.alice.profiles[0])
    t0 = plan["tasks"][0]
    assert "followup.task_due" in tick(clock, drain, hours=23)  # 11-21 09:00 Asia/Shanghai
    w.fresh()
    [due] = inbox(api, w.alice, "followup.task_due")
    assert due["link"] == {"type": "followup_plan", "id": plan["plan_id"]} and "2026-11-24 09:00" in due["body"]
    # the task's card in the conversation pushes "新消息" too; the task's own push says what is due
    assert "您有一项随访任务待完成" in [p["body"]["notification"]["alert"] for p in received(fake, "jpush")]

    tick(clock, drain, hours=13, minutes=30)  # 22:30: quiet hours
    w.fresh()
    before = len(received(fake, "jpush"))
    r = api.post(f"/v1/followup/plans/{plan['plan_id']}/tasks/{t0['task_id']}/answers",
                 answers(pain=8, temp=37.8, mood="bad"), token=w.alice.token)
    assert r.status == 200 and len(r.body["alerts"]) == 2, r.body
    drain()
    items = inbox(api, w.doctor, "followup.alert_raised")
    assert sorted(i["title"] for i in items) == ["随访提醒", "随访紧急提醒"]
    by_channel = {}
    for d in Delivery.by_account.query(w.doctor.account_id):
        if d.event_type == "followup.alert_raised" and d.channel != "inbox":
            by_channel.setdefault((d.payload["severity"], d.channel), d)
    urgent_push = by_channel[("urgent", "push")]
    assert urgent_push.status == "sent"  # through quiet hours, not held
    assert by_channel[("urgent", "sms")].status != "held"
    assert (by_channel[("routine", "push")].status, by_channel[("routine", "push")].reason) == (
        "not_sent", "daily_digest")
    pushes = received(fake, "jpush")[before:]
    assert [p["body"]["notification"]["alert"] for p in pushes] == ["您有一条紧急随访提醒，请尽快查看"]
    assert not inbox(api, w.alice, "followup.alert_raised")  # the patient is not told of the doctor's alert


def test_published_opinion_report_reaches_the_patient(api, clock, drain, fake, wxpay):  # noqa: F811
    admin = make_admin(api)
    e1 = make_expert(api, admin, name="甲专家")
    alice = make_patient(api)
    drain()
    device(api, alice)
    device(api, e1)
    case_id = submit(api, wxpay, alice, drain, expert_id=e1.account_id)
    assert not inbox(api, alice, "opinion.submitted") and not inbox(api, admin, "opinion.submitted")
    assert complete(api, admin, case_id, drain)["status"] == "assigned"
    [assigned] = inbox(api, e1, "opinion.assigned")
    assert assigned["link"] == {"type": "opinion_case", "id": case_id} and "前接受或拒绝" in assigned["body"]
    assert api.post(f"/v1/doctor/opinions/cases/{case_id}/accept", token=e1.token).status == 200
    drain()
    assert len(inbox(api, alice, "opinion.accepted")) == 1
    before = len(received(fake, "jpush"))
    r = api.post(f"/v1/doctor/opinions/cases/{case_id}/report", REPORT, token=e1.token)
    assert r.status == 201, r.body
    assert "opinion.report_published" in drain()
    [item] = inbox(api, alice, "opinion.report_published")
    assert item["title"] == "专家意见已发布" and item["link"] == {"type": "opinion_case", "id": case_id}
    mine = {d.channel: d for d in Delivery.by_account.query(alice.account_id)
            if d.event_type == "opinion.report_published"}
    assert set(mine) == {"inbox", "push", "sms"} and mine["push"].status == "sent"
    pushes = [p["body"]["notification"]["alert"] for p in received(fake, "jpush")[before:]]
    assert pushes == ["您的二次诊疗专家意见已发布"]
    assert not [p for p in pushes if "IIIB" in p or "腺癌" in p]
    assert not inbox(api, e1, "opinion.report_published")
