"""Follow-up plans (随访) through the HTTP API: template → plan → timers → due card → reminder →
answer → alert → acknowledgement; windows, missed tasks, anchor changes, stopping, binding
end, template versions, views and call budgets."""

import pytest

from chalicelib.core import timers
from chalicelib.core.outbox import OutboxEvent
from chalicelib.followup.models import Task
from tests.followup_support import World, answers, seed_library, template_body, tick, today
from tests.support import count_ddb_calls


@pytest.fixture
def world(api, clock, drain):
    w = World(api)
    drain()  # binding.activated → conversations
    return w


def _events(type_: str) -> list[dict]:
    return [e.payload for e in OutboxEvent.scan(OutboxEvent.type == type_)]


def _cards(api, user, conversation_id) -> list[dict]:
    r = api.get(f"/v1/conversations/{conversation_id}/messages?limit=100", token=user.token)
    assert r.status == 200, r.body
    return [m["card"] for m in r.body["items"] if m["kind"] == "card"]


def test_template_plan_timer_reminder_answer_alert_ack(api, world, clock, drain):
    w = world
    tpl = w.template()
    plan = w.assign(tpl["template_id"], w.alice.profiles[0])
    assert [t["status"] for t in plan["tasks"]] == ["scheduled", "scheduled"]  # only the next occurrence of each item
    pending = [t for t in timers.Timer.scan() if t.kind == "followup-due" and t.status == "pending"]
    assert len(pending) == 2
    t0 = plan["tasks"][0]
    assert t0["due_at"] == "2026-11-21T09:00:00+08:00" and t0["window_ends_at"] == "2026-11-24T09:00:00+08:00"

    # not due yet: answering is refused
    r = api.post(f"/v1/followup/plans/{plan['plan_id']}/tasks/{t0['task_id']}/answers", answers(), token=w.alice.token)
    assert r.status == 409 and r.error_code == "not_due"

    events = tick(clock, drain, hours=23)
    assert events.count("followup.task_due") == 1
    due = _events("followup.task_due")[0]
    assert {due["patient_account_id"], due["doctor_id"], due["plan_id"], due["task_id"]} == {
        w.alice.account_id, w.doctor.account_id, plan["plan_id"], t0["task_id"]}
    assert not {"answers", "score", "title"} & set(due)  # ids only, no health data
    w.fresh()
    cards = _cards(api, w.alice, w.bindings["alice"]["binding_id"])
    assert any(c["type"] == "followup_task" and c["task_id"] == t0["task_id"] for c in cards)
    assert w.task(plan["plan_id"], "pain")["status"] == "open"

    # the one reminder, a day before the window closes
    assert "followup.task_reminder" not in tick(clock, drain, hours=47)
    assert tick(clock, drain, hours=1).count("followup.task_reminder") == 1
    assert "followup.task_reminder" not in tick(clock, drain, hours=1)
    w.fresh()

    r = api.get(f"/v1/followup/plans/{plan['plan_id']}/tasks/{t0['task_id']}", token=w.alice.token)
    assert r.status == 200 and r.body["content"]["questionnaire"]["title"] == "疼痛与体温"
    r = api.post(f"/v1/followup/plans/{plan['plan_id']}/tasks/{t0['task_id']}/answers",
                 answers(pain=8, temp=37.8, mood="bad"), token=w.alice.token)
    assert r.status == 200, r.body
    assert r.body["task"]["status"] == "completed" and r.body["task"]["score"] == 10 and r.body["task"]["band"] == "high"
    assert r.body["advice"] == ["请立即前往急诊"] and len(r.body["alerts"]) == 2
    events = drain()
    raised = _events("followup.alert_raised")
    assert events.count("followup.alert_raised") == 2
    assert {a["severity"] for a in raised} == {"urgent", "routine"}
    urgent = next(a for a in raised if a["severity"] == "urgent")
    assert urgent["doctor_id"] == w.doctor.account_id and urgent["critical"] is True

    # the next weekly occurrence is the item's only live task
    tasks = [t for t in w.plan(plan["plan_id"])["tasks"] if t["item_id"] == "pain"]
    assert [(t["occurrence"], t["status"]) for t in tasks] == [(0, "completed"), (1, "scheduled")]

    r = api.get("/v1/doctor/followup/alerts", token=w.doctor.token)
    assert [a["severity"] for a in r.body["items"]] == ["urgent", "routine"]
    assert r.body["items"][0]["patient_name"] == "张三"
    r = api.post(f"/v1/doctor/followup/alerts/{urgent['alert_id']}/acknowledge", {"note": "已电话联系"},
                 token=w.doctor.token)
    assert r.status == 200 and r.body["status"] == "acknowledged"
    assert api.post(f"/v1/doctor/followup/alerts/{urgent['alert_id']}/acknowledge", {},
                    token=w.doctor.token).status == 409
    # acknowledged: never raised again
    assert "followup.alert_raised" not in tick(clock, drain, hours=5)
    w.fresh()
    assert [a["severity"] for a in api.get("/v1/doctor/followup/alerts", token=w.doctor.token).body["items"]] == [
        "routine"]


def test_urgent_alert_is_raised_again_until_acknowledged(api, world, clock, drain):
    w = world
    plan = w.assign(w.template()["template_id"], w.alice.profiles[0])
    tick(clock, drain, hours=23)
    w.fresh()
    t = w.task(plan["plan_id"], "pain")
    r = api.post(f"/v1/followup/plans/{plan['plan_id']}/tasks/{t['task_id']}/answers", answers(pain=9),
                 token=w.alice.token)
    alert_id = r.body["alerts"][0]
    drain()
    assert "followup.alert_raised" not in tick(clock, drain, hours=3)
    assert tick(clock, drain, hours=1, minutes=1).count("followup.alert_raised") == 1
    again = [a for a in _events("followup.alert_raised") if a.get("reraised")]
    assert again[0]["alert_id"] == alert_id and again[0]["raise_count"] == 2
    assert tick(clock, drain, hours=4).count("followup.alert_raised") == 1  # and again
    w.fresh()
    assert api.post(f"/v1/doctor/followup/alerts/{alert_id}/acknowledge", {}, token=w.doctor.token).status == 200
    assert "followup.alert_raised" not in tick(clock, drain, hours=10)


def test_one_reminder_then_missed_and_the_next_occurrence(api, world, clock, drain):
    w = world
    plan = w.assign(w.template(items=template_body()["items"][:1])["template_id"], w.alice.profiles[0])
    tick(clock, drain, hours=23)
    assert tick(clock, drain, hours=48).count("followup.task_reminder") == 1
    events = tick(clock, drain, hours=24)
    assert events.count("followup.task_missed") == 1 and "followup.task_reminder" not in events
    w.fresh()
    tasks = [t for t in w.plan(plan["plan_id"])["tasks"] if t["item_id"] == "pain"]
    assert [(t["occurrence"], t["status"]) for t in tasks] == [(0, "missed"), (1, "scheduled")]
    r = api.post(f"/v1/followup/plans/{plan['plan_id']}/tasks/{tasks[0]['task_id']}/answers", answers(),
                 token=w.alice.token)
    assert r.status == 409 and r.error_code == "task_closed"
    # a week after the first: the second occurrence opens
    assert tick(clock, drain, days=4).count("followup.task_due") == 1


def test_late_answer_inside_the_window_counts(api, world, clock, drain):
    w = world
    tpl = w.template()
    plan = w.assign(tpl["template_id"], w.alice.profiles[0])
    tick(clock, drain, hours=23)
    tick(clock, drain, hours=60)  # reminded, 60 h late, window still open
    w.fresh()
    t = w.task(plan["plan_id"], "pain")
    r = api.post(f"/v1/followup/plans/{plan['plan_id']}/tasks/{t['task_id']}/answers", answers(), token=w.alice.token)
    assert r.status == 200 and r.body["task"]["status"] == "completed" and r.body["task"]["late"] is True
    drain()
    assert "followup.task_missed" not in tick(clock, drain, hours=13)
    w.fresh()
    adh = api.get(f"/v1/doctor/followup/templates/{tpl['template_id']}/adherence", token=w.doctor.token).body
    pain = next(i for i in adh["items"] if i["item_id"] == "pain")
    assert (pain["completed"], pain["missed"], pain["pending"]) == (1, 0, 1)
    assert 48 <= pain["median_delay_hours"] <= 72
    care = next(i for i in adh["items"] if i["item_id"] == "care")
    assert care["pending"] == 1 and adh["plans"] == 1 and adh["answered"] == 1 and adh["alert_rate"] == 0


def test_window_closed_before_the_sweep_is_refused(api, world, clock, drain):
    w = world
    plan = w.assign(w.template()["template_id"], w.alice.profiles[0])
    tick(clock, drain, hours=23)
    clock.advance(hours=72, seconds=30)  # the deadline timer has not run yet
    w.fresh()
    t = w.task(plan["plan_id"], "pain")
    r = api.post(f"/v1/followup/plans/{plan['plan_id']}/tasks/{t['task_id']}/answers", answers(), token=w.alice.token)
    assert r.status == 409 and r.error_code == "window_closed"


def test_anchor_change_reschedules_what_is_pending(api, world, clock, drain):
    w = world
    plan = w.assign(w.template()["template_id"], w.alice.profiles[0])
    later = "2026-11-23"
    r = api.patch(f"/v1/doctor/followup/plans/{plan['plan_id']}", {"anchor_date": later}, token=w.doctor.token)
    assert r.status == 200, r.body
    pain = next(t for t in r.body["tasks"] if t["item_id"] == "pain" and t["status"] == "scheduled")
    assert pain["due_at"] == "2026-11-24T09:00:00+08:00" and pain["occurrence"] == 0
    assert "followup.task_due" not in tick(clock, drain, hours=23)  # the old due time passes quietly
    assert tick(clock, drain, days=4).count("followup.task_due") == 2  # pain (T+1) and care (T+2) of the new anchor
    assert len({(e["task_id"]) for e in _events("followup.task_due")}) == 2
    # an open task keeps its window when the anchor moves again
    w.fresh()
    r = api.patch(f"/v1/doctor/followup/plans/{plan['plan_id']}", {"anchor_date": "2026-11-30"}, token=w.doctor.token)
    assert {t["status"] for t in r.body["tasks"] if t["occurrence"] == 0} == {"open"}


def test_stop_cancels_and_nothing_fires_after(api, world, clock, drain):
    w = world
    plan = w.assign(w.template()["template_id"], w.alice.profiles[0])
    tick(clock, drain, hours=23)  # pain is open, care still scheduled
    w.fresh()
    r = api.post(f"/v1/doctor/followup/plans/{plan['plan_id']}/stop", token=w.doctor.token)
    assert r.status == 200 and r.body["status"] == "stopped" and r.body["stop_reason"] == "doctor"
    events = tick(clock, drain, days=20)
    assert not [e for e in events if e.startswith("followup.task")]
    w.fresh()
    assert {t["status"] for t in w.plan(plan["plan_id"])["tasks"]} == {"cancelled"}
    assert api.post(f"/v1/doctor/followup/plans/{plan['plan_id']}/stop", token=w.doctor.token).status == 409


def test_binding_end_cancels_the_plans_of_the_pair(api, world, clock, drain):
    w = world
    tpl = w.template()
    mine = w.assign(tpl["template_id"], w.alice.profiles[0])
    bobs = w.assign(tpl["template_id"], w.bob.profiles[0])
    r = api.post(f"/v1/bindings/{w.bindings['alice']['binding_id']}/end", token=w.alice.token)
    assert r.status == 200, r.body
    drain()
    assert w.plan(mine["plan_id"])["status"] == "stopped"
    assert w.plan(mine["plan_id"])["stop_reason"] == "binding_ended"
    events = tick(clock, drain, hours=23)
    due = _events("followup.task_due")
    assert events.count("followup.task_due") == 1 and due[0]["plan_id"] == bobs["plan_id"]
    # a doctor's block stops the plan too
    w.fresh()
    r = api.post(f"/v1/doctor/bindings/{w.bindings['bob']['binding_id']}/block", token=w.doctor.token)
    assert r.status == 200, r.body
    drain()
    assert "followup.task_reminder" not in tick(clock, drain, hours=49)
    # and no plan can be assigned without a live binding
    w.fresh()
    r = api.post("/v1/doctor/followup/plans", {"template_id": tpl["template_id"], "profile_id": w.alice.profiles[0],
                                               "anchor_date": today()}, token=w.doctor.token)
    assert r.status == 404


def test_pause_and_resume(api, world, clock, drain):
    w = world
    plan = w.assign(w.template()["template_id"], w.alice.profiles[0])
    assert api.post(f"/v1/doctor/followup/plans/{plan['plan_id']}/pause", token=w.doctor.token).body["status"] == "paused"
    assert "followup.task_due" not in tick(clock, drain, days=3)
    w.fresh()
    r = api.post(f"/v1/doctor/followup/plans/{plan['plan_id']}/resume", token=w.doctor.token)
    assert r.status == 200 and r.body["status"] == "active"
    live = [t for t in r.body["tasks"] if t["status"] == "scheduled"]
    # T+1 (window open until T+4) is offered again; T+2 care's window is open too
    assert [(t["item_id"], t["occurrence"]) for t in live] == [("pain", 0), ("care", 0)]
    assert tick(clock, drain, minutes=1).count("followup.task_due") == 2


def test_template_edit_leaves_assigned_plans_alone(api, world):
    w = world
    tpl = w.template()
    plan = w.assign(tpl["template_id"], w.alice.profiles[0])
    body = template_body(name="术后随访 v2")
    body["items"][1]["text"] = "改过的文字"
    body["items"] = body["items"][1:]
    r = api.put(f"/v1/doctor/followup/templates/{tpl['template_id']}", body, token=w.doctor.token) \
        if hasattr(api, "put") else api.call("PUT", f"/v1/doctor/followup/templates/{tpl['template_id']}", body,
                                            token=w.doctor.token)
    assert r.status == 200 and r.body["version"] == 2
    p = w.plan(plan["plan_id"])
    assert p["template_version"] == 1 and len(p["items"]) == 2 and p["items"][1]["text"] == "请按时换药"
    assert api.get(f"/v1/doctor/followup/templates/{tpl['template_id']}?version=1",
                   token=w.doctor.token).body["items"][1]["text"] == "请按时换药"
    newer = w.assign(tpl["template_id"], w.bob.profiles[0])
    assert newer["template_version"] == 2 and len(newer["items"]) == 1
    older = w.assign(tpl["template_id"], w.alice.profiles[1], version=1)
    assert older["template_version"] == 1
    # another doctor may not edit it
    r = api.call("PUT", f"/v1/doctor/followup/templates/{tpl['template_id']}", body, token=w.other_doctor.token)
    assert r.status == 404


def test_library_templates_and_department_sharing(api, world, clock, drain):
    w = world
    assert sorted(seed_library()) == ["lib_pain_nrs", "lib_phq9", "lib_postop30", "lib_temperature"]
    assert seed_library() == []  # idempotent
    lib = api.get("/v1/doctor/followup/templates?scope=library", token=w.doctor.token).body["items"]
    assert {t["template_id"] for t in lib} == {"lib_pain_nrs", "lib_phq9", "lib_postop30", "lib_temperature"}
    plan = w.assign("lib_phq9", w.alice.profiles[0])
    # T+0 09:00 has passed an hour ago but can still be answered: it opens at the next sweep
    assert plan["tasks"][0]["due_at"] == "2026-11-20T09:00:00+08:00"
    assert tick(clock, drain, minutes=1).count("followup.task_due") == 1
    w.assign("lib_postop30", w.alice.profiles[0])
    # sharing with the department: a colleague (same hospital and department) sees and assigns it
    colleague = __import__("tests.doctors_support", fromlist=["make_doctor"]).make_doctor(api, w.admin)
    shared = w.template(share_with_department=True)
    private = w.template()
    items = api.get("/v1/doctor/followup/templates?scope=department", token=colleague.token).body["items"]
    assert [t["template_id"] for t in items] == [shared["template_id"]]
    assert api.get(f"/v1/doctor/followup/templates/{private['template_id']}", token=colleague.token).status == 404
    assert api.get(f"/v1/doctor/followup/templates/{shared['template_id']}", token=w.other_doctor.token).status == 404
    assert api.get(f"/v1/doctor/followup/templates/{shared['template_id']}", token=colleague.token).status == 200


def test_photo_answer_must_be_uploaded_to_the_conversation(api, world, clock, drain):
    w = world
    seed_library()
    plan = w.assign("lib_postop30", w.alice.profiles[0], anchor="2026-11-18")  # T+3 is 2026-11-21
    tick(clock, drain, hours=23)
    w.fresh()
    t = w.task(plan["plan_id"], "d3_wound")
    assert t["status"] == "open"
    other = api.post("/v1/attachments", {"conversation_id": w.bindings["bob"]["binding_id"],
                                         "content_type": "image/jpeg", "size": 1000}, token=w.bob.token)
    mine = api.post("/v1/attachments", {"conversation_id": w.bindings["alice"]["binding_id"],
                                        "content_type": "image/jpeg", "size": 1000}, token=w.alice.token)
    assert other.status == 201 and mine.status == 201, (other.body, mine.body)
    body = {"answers": {"wound": "discharge", "pain": 3, "temp": 36.8, "photo": other.body["attachment_id"]}}
    url = f"/v1/followup/plans/{plan['plan_id']}/tasks/{t['task_id']}/answers"
    r = api.post(url, body, token=w.alice.token)
    assert r.status == 422 and r.error_code == "invalid_attachment"
    body["answers"]["photo"] = mine.body["attachment_id"]
    r = api.post(url, body, token=w.alice.token)
    assert r.status == 200 and r.body["advice"] == [] and len(r.body["alerts"]) == 1


@pytest.mark.parametrize("bad", [
    {"pain": 11, "temp": 36.5, "mood": "good"}, {"pain": 2.5, "temp": 36.5, "mood": "good"},
    {"pain": 2, "temp": 50, "mood": "good"}, {"pain": 2, "temp": 36.5, "mood": "meh"},
    {"pain": 2, "temp": 36.5}, {"pain": 2, "temp": 36.5, "mood": "good", "extra": 1},
    {"pain": "2", "temp": 36.5, "mood": "good"}, {"pain": 2, "temp": True, "mood": "good"},
])
def test_bad_answers_are_400(api, world, clock, drain, bad):
    w = world
    plan = w.assign(w.template()["template_id"], w.alice.profiles[0])
    tick(clock, drain, hours=23)
    w.fresh()
    t = w.task(plan["plan_id"], "pain")
    r = api.post(f"/v1/followup/plans/{plan['plan_id']}/tasks/{t['task_id']}/answers", {"answers": bad},
                 token=w.alice.token)
    assert r.status == 400 and r.error_code == "invalid_answer", r.body


@pytest.mark.parametrize("mutate", [
    lambda b: b["items"][0].pop("questionnaire"),
    lambda b: b["items"][0].update(item_id="Bad Id"),
    lambda b: b["items"][0]["questionnaire"]["alerts"][0].pop("advice"),  # urgent without advice
    lambda b: b["items"][0]["questionnaire"]["alerts"][0].update(qid="nope"),
    lambda b: b["items"][0].update(repeat={"every_days": 7}),  # unbounded repeat
    lambda b: b["items"].append(dict(b["items"][1])),  # duplicate item id
    lambda b: b["items"][0]["questionnaire"]["questions"][1].update(min=50),
])
def test_bad_templates_are_400(api, world, mutate):
    body = template_body()
    mutate(body)
    r = api.post("/v1/doctor/followup/templates", body, token=world.doctor.token)
    assert r.status == 400, r.body


def test_doctor_patient_view_trends_and_alerts(api, world, clock, drain):
    w = world
    plan = w.assign(w.template()["template_id"], w.alice.profiles[0])
    pains = [3, 8]
    tick(clock, drain, hours=23)
    for i, pain in enumerate(pains):
        w.fresh()
        t = w.task(plan["plan_id"], "pain")
        r = api.post(f"/v1/followup/plans/{plan['plan_id']}/tasks/{t['task_id']}/answers", answers(pain=pain),
                     token=w.alice.token)
        assert r.status == 200, r.body
        drain()
        if i == 0:
            tick(clock, drain, days=7)
    w.fresh()
    r = api.get(f"/v1/doctor/followup/patients/{w.alice.profiles[0]}", token=w.doctor.token)
    assert r.status == 200, r.body
    pain = next(t for t in r.body["trends"] if t["key"] == "pain")
    assert [p["value"] for p in pain["points"]] == [3, 8] and [p["day"] for p in pain["points"]] == [1, 8]
    assert any(t["key"] == "score" for t in r.body["trends"])
    assert [a["rule_id"] for a in r.body["open_alerts"]] == ["pain_high"]
    assert api.get(f"/v1/doctor/followup/patients/{w.alice.profiles[0]}", token=w.other_doctor.token).status == 404
    from chalicelib.core.audit import AuditRecord

    assert any(a.object_type == "followup_patient" for a in AuditRecord.query(w.alice.profiles[0]))


def test_authorization(api, world, clock, drain):
    w = world
    tpl = w.template()
    child_plan = w.assign(tpl["template_id"], w.alice.profiles[1])
    pid = child_plan["plan_id"]
    tick(clock, drain, hours=23)
    w.fresh()
    t = w.task(pid, "pain")  # the family manager sees the child's plan
    # another patient, another doctor: 404
    for token in (w.bob.token,):
        assert api.get(f"/v1/followup/plans/{pid}", token=token).status == 404
        assert api.get(f"/v1/followup/plans/{pid}/tasks/{t['task_id']}", token=token).status == 404
        assert api.post(f"/v1/followup/plans/{pid}/tasks/{t['task_id']}/answers", answers(), token=token).status == 404
        assert api.get(f"/v1/followup/plans?profile_id={w.alice.profiles[1]}", token=token).body["items"] == []
    od = w.other_doctor.token
    assert api.get(f"/v1/doctor/followup/plans/{pid}", token=od).status == 404
    assert api.post(f"/v1/doctor/followup/plans/{pid}/stop", token=od).status == 404
    assert api.patch(f"/v1/doctor/followup/plans/{pid}", {"anchor_date": today()}, token=od).status == 404
    assert api.get(f"/v1/doctor/followup/templates/{tpl['template_id']}", token=od).status == 404
    assert api.post("/v1/doctor/followup/plans", {"template_id": tpl["template_id"], "profile_id": w.bob.profiles[0],
                                                  "anchor_date": today()}, token=od).status == 404
    assert api.get(f"/v1/doctor/followup/templates/{tpl['template_id']}/adherence", token=od).status == 404
    assert api.post(f"/v1/doctor/followup/templates/{tpl['template_id']}/exports", token=od).status == 404
    # the family manager answers for the child
    r = api.post(f"/v1/followup/plans/{pid}/tasks/{t['task_id']}/answers", answers(pain=9), token=w.alice.token)
    assert r.status == 200
    alert_id = r.body["alerts"][0]
    assert api.post(f"/v1/doctor/followup/alerts/{alert_id}/acknowledge", {}, token=od).status == 404
    assert api.get("/v1/doctor/followup/alerts", token=od).body["items"] == []
    # the doctor cannot assign to a profile that is not bound to them
    stranger = __import__("tests.doctors_support", fromlist=["make_patient"]).make_patient(api)
    assert api.post("/v1/doctor/followup/plans", {"template_id": tpl["template_id"], "profile_id": stranger.profiles[0],
                                                  "anchor_date": today()}, token=w.doctor.token).status == 404
    # consent: only the managing account
    assert api.get(f"/v1/followup/profiles/{w.alice.profiles[1]}/research-consent", token=w.bob.token).status == 404


def test_answer_call_budget(api, world, clock, drain):
    w = world
    plan = w.assign(w.template()["template_id"], w.alice.profiles[0])
    tick(clock, drain, hours=23)
    w.fresh()
    t = w.task(plan["plan_id"], "pain")
    with count_ddb_calls() as calls:
        r = api.post(f"/v1/followup/plans/{plan['plan_id']}/tasks/{t['task_id']}/answers", answers(pain=8),
                     token=w.alice.token)
    assert r.status == 200
    # plan, task, one transaction (answer + alerts + events + timers + the next occurrence)
    assert calls == ["GetItem", "GetItem", "TransactWriteItems"], calls
    with count_ddb_calls() as calls:
        assert api.get("/v1/doctor/followup/alerts", token=w.doctor.token).status == 200
    assert calls == ["Query"]


def test_task_fires_once_under_overlapping_sweeps(api, world, clock, drain):
    w = world
    plan = w.assign(w.template()["template_id"], w.alice.profiles[0])
    clock.advance(hours=23)
    timers.sweep()
    timers.sweep()
    events = drain()
    assert events.count("followup.task_due") == 1
    task = Task.get(plan["plan_id"], "pain.0000")
    assert task.status == "open"
