"""The plan lifecycle under any interleaving: a hypothesis state machine assigns plans, moves
the clock through the real sweep and outbox, answers and completes tasks, pauses, resumes,
stops, moves anchors and ends bindings. After every step: every task fires (task_due) at most
once, is reminded at most once, and nothing fires for a plan after it stopped or its binding
ended."""

from collections import Counter
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from chalicelib.bindings import service as bindings
from chalicelib.core import clock as core_clock
from chalicelib.core import timers
from chalicelib.core.errors import ApiError
from chalicelib.core.http import Caller
from chalicelib.core.outbox import OutboxEvent
from chalicelib.followup import service, tasks
from chalicelib.followup.models import Task
from chalicelib.followup.schemas import PlanCreate
from tests.followup_support import World, template_body

FIRING = ("followup.task_due", "followup.task_reminder")


@pytest.mark.filterwarnings("ignore")
def test_plan_lifecycle_invariants(api, clock, drain):
    class Lifecycle(RuleBasedStateMachine):
        @initialize()
        def setup(self):
            self.w = World(api)
            drain()
            body = template_body()
            body["items"].append({"item_id": "med", "kind": "medication", "title": "服药", "offset_days": 0,
                                  "medication": {"drug": "阿司匹林", "dose": "100mg", "times": ["08:00", "20:00"],
                                                 "days": 3}})
            self.tpl = self.w.template(items=body["items"])["template_id"]
            self.doctor = Caller(self.w.doctor.account_id, "doctor")
            self.patients = {"alice": Caller(self.w.alice.account_id, "patient"),
                             "bob": Caller(self.w.bob.account_id, "patient")}
            self.profiles = {"alice": self.w.alice.profiles[0], "child": self.w.alice.profiles[1],
                             "bob": self.w.bob.profiles[0]}
            self.plans: dict[str, str] = {}  # plan_id → who
            self.closed: dict[str, set[str]] = {}  # plan_id → event ids that existed when it stopped
            self.events: dict[str, dict] = {}
            self.ended: set[str] = set()

        def _sync(self):
            for e in OutboxEvent.scan(OutboxEvent.type.is_in(*FIRING)):
                self.events.setdefault(e.event_id, {"type": e.type, **e.payload})

        def _close(self, plan_id):
            self._sync()
            self.closed.setdefault(plan_id, set(self.events))

        @rule(who=st.sampled_from(["alice", "child", "bob"]), back=st.integers(0, 10))
        def assign(self, who, back):
            anchor = (core_clock.now() - timedelta(days=back)).astimezone(core_clock.SHANGHAI).date()
            try:
                p = service.assign(self.doctor, PlanCreate(template_id=self.tpl, profile_id=self.profiles[who],
                                                           anchor_date=anchor))
            except ApiError:
                assert who in self.ended
                return
            self.plans[p.plan_id] = who

        @rule(hours=st.integers(1, 60))
        def advance(self, hours):
            clock.advance(hours=hours)
            timers.sweep()
            drain()

        @rule(data=st.data())
        def act_on_open_task(self, data):
            if not self.plans:
                return
            plan_id = data.draw(st.sampled_from(sorted(self.plans)))
            opened = [t for t in Task.query(plan_id) if t.status == "open"]
            if not opened:
                return
            t = data.draw(st.sampled_from(opened))
            who = self.plans[plan_id]
            caller = self.patients["bob" if who == "bob" else "alice"]
            try:
                if t.kind == "questionnaire":
                    tasks.answer(caller, plan_id, t.task_id, {"pain": data.draw(st.integers(0, 10)), "temp": 36.6,
                                                                "mood": "good"})
                else:
                    tasks.complete(caller, plan_id, t.task_id)
            except ApiError as exc:
                assert exc.status == 409  # window closed, plan stopped or paused meanwhile
            drain()

        @rule(data=st.data(), action=st.sampled_from(["stop", "pause", "resume", "anchor"]))
        def doctor_acts(self, data, action):
            if not self.plans:
                return
            plan_id = data.draw(st.sampled_from(sorted(self.plans)))
            try:
                if action == "stop":
                    service.stop(self.doctor, plan_id)
                    self._close(plan_id)
                elif action == "pause":
                    service.pause(self.doctor, plan_id)
                elif action == "resume":
                    service.resume(self.doctor, plan_id)
                else:
                    shift = data.draw(st.integers(-3, 3))
                    plan = service.doctors_plan(self.doctor, plan_id)
                    from datetime import date

                    service.change_anchor(self.doctor, plan_id, date.fromisoformat(plan.anchor_date) + timedelta(days=shift))
            except ApiError as exc:
                assert exc.status == 409
            drain()

        @rule(who=st.sampled_from(["alice", "child", "bob"]))
        def end_binding(self, who):
            if who in self.ended:
                return
            b = bindings.get_active_binding(self.doctor.account_id, self.profiles[who])
            bindings.end(self.patients["bob" if who == "bob" else "alice"], b.binding_id, "req")
            self.ended.add(who)
            drain()
            for plan_id, owner in self.plans.items():
                if owner == who:
                    assert service.doctors_plan(self.doctor, plan_id).status == "stopped"
                    self._close(plan_id)

        @invariant()
        def fires_at_most_once_and_never_after_stop(self):
            if not hasattr(self, "events"):
                return
            self._sync()
            per_task = Counter((e["type"], e["plan_id"], e["task_id"]) for e in self.events.values())
            assert max(per_task.values(), default=0) <= 1, per_task.most_common(1)
            for event_id, e in self.events.items():
                closed = self.closed.get(e["plan_id"])
                assert closed is None or event_id in closed, f"{e['type']} after the plan stopped"

    run_state_machine_as_test(Lifecycle, settings=settings(max_examples=8, stateful_step_count=20, deadline=None,
                                                           suppress_health_check=list(HealthCheck)))
