"""Follow-up (随访) tests' helpers: a bound doctor–patient world, template bodies, and moving
the clock with the minute sweep and the outbox stream."""

from __future__ import annotations

import copy

from chalicelib.core import clock as core_clock
from chalicelib.core import timers
from chalicelib.followup import templates
from tests.bindings_support import bind
from tests.doctors_support import make_admin, make_doctor, make_patient

PAIN_Q = {
    "title": "疼痛与体温",
    "questions": [
        {"qid": "pain", "type": "scale", "text": "疼痛（0–10）", "weight": 1},
        {"qid": "temp", "type": "number", "text": "体温", "unit": "℃", "min": 34, "max": 43},
        {"qid": "mood", "type": "single", "text": "心情", "options": [
            {"value": "good", "label": "好", "score": 0}, {"value": "bad", "label": "差", "score": 2}]},
        {"qid": "note", "type": "text", "text": "补充", "required": False},
    ],
    "scoring": {"method": "sum", "bands": [{"min": 0, "max": 6, "label": "low"}, {"min": 7, "max": 12, "label": "high"}]},
    "alerts": [
        {"rule_id": "pain_high", "on": "question", "qid": "pain", "op": ">=", "value": 7, "severity": "urgent",
         "text": "疼痛 ≥ 7", "advice": "请立即前往急诊"},
        {"rule_id": "fever", "on": "question", "qid": "temp", "op": ">=", "value": 37.5, "severity": "routine",
         "text": "体温 ≥ 37.5"},
    ],
}


def template_body(**over) -> dict:
    """One questionnaire at T+1 09:00 (Asia/Shanghai), repeating weekly 3 times; one reminder at T+2."""
    return {"name": "术后随访", "anchor_type": "surgery", "items": [
        {"item_id": "pain", "kind": "questionnaire", "title": "疼痛评估", "offset_days": 1,
         "repeat": {"every_days": 7, "count": 3}, "questionnaire": copy.deepcopy(PAIN_Q)},
        {"item_id": "care", "kind": "reminder", "title": "换药", "offset_days": 2, "text": "请按时换药"},
    ], **over}


def answers(pain=2, temp=36.6, mood="good", note=None) -> dict:
    a = {"pain": pain, "temp": temp, "mood": mood}
    if note is not None:
        a["note"] = note
    return {"answers": a}


def today() -> str:
    return core_clock.now().astimezone(core_clock.SHANGHAI).date().isoformat()


class World:
    def __init__(self, api):
        self.api = api
        self.admin = make_admin(api)
        self.doctor = make_doctor(api, self.admin)
        self.other_doctor = make_doctor(api, self.admin, department="骨科")
        self.alice = make_patient(api, with_family=True)  # manages her child's profile too
        self.bob = make_patient(api)
        self.bindings = {"alice": bind(api, self.doctor, self.alice, 0), "child": bind(api, self.doctor, self.alice, 1),
                         "bob": bind(api, self.doctor, self.bob, 0)}

    def fresh(self):
        """Access tokens live 15 minutes: after moving the clock, log everyone in again."""
        for k in ("admin", "doctor", "other_doctor", "alice", "bob"):
            setattr(self, k, self.api.relogin(getattr(self, k)))

    def template(self, **over) -> dict:
        r = self.api.post("/v1/doctor/followup/templates", template_body(**over), token=self.doctor.token)
        assert r.status == 201, r.body
        return r.body

    def assign(self, template_id: str, profile: str, anchor: str | None = None, version=None) -> dict:
        body = {"template_id": template_id, "profile_id": profile, "anchor_date": anchor or today()}
        if version:
            body["version"] = version
        r = self.api.post("/v1/doctor/followup/plans", body, token=self.doctor.token)
        assert r.status == 201, r.body
        return r.body

    def plan(self, plan_id: str, user=None) -> dict:
        r = self.api.get(f"/v1/followup/plans/{plan_id}", token=(user or self.alice).token)
        assert r.status == 200, r.body
        return r.body

    def task(self, plan_id: str, item_id: str, user=None) -> dict:
        tasks = [t for t in self.plan(plan_id, user)["tasks"] if t["item_id"] == item_id]
        return max(tasks, key=lambda t: t["occurrence"])


def tick(clock, drain, **advance) -> list[str]:
    """Move the clock, run the minute sweep and deliver the outbox; returns the event types."""
    clock.advance(**advance)
    timers.sweep()
    return drain()


def seed_library() -> list[str]:
    return templates.seed_library()
