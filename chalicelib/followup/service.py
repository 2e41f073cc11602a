"""Follow-up plans (随访): assignment, listing, pausing, stopping, resuming and moving the anchor;
the shapes and task helpers that ``tasks.py`` and ``alerts.py`` share.

Each plan item has at most one live task (``scheduled`` with a due timer, or ``open`` with a
reminder and a deadline timer). Opening, reminding, missing and completing a task are
conditional writes that commit with their outbox event, the next occurrence's task and timer,
and a condition that the plan is still active — so a task fires at most once, never after its
plan stopped, and is reminded at most once. Timers carry the task's generation: rescheduling
bumps it, and a timer of an older generation finds nothing to do.

Tasks (their timers, answers, completion) live in ``tasks.py``; alerts in ``alerts.py``;
templates in ``templates.py``; counters and views in ``views.py``; research consent and exports
in ``research.py``.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from pynamodb.exceptions import TransactWriteError
from pynamodb.expressions.update import Action

from chalicelib.core import clock, timers
from chalicelib.core.config import get_settings
from chalicelib.core.errors import Conflict, NotFound
from chalicelib.core.ids import new_id
from chalicelib.core.outbox import consumer, emit, transaction
from chalicelib.core.pagination import Page, parse_limit, query_page

from . import questionnaires, templates, timing
from .models import Alert, Plan, Task
from .schemas import AlertOut, PlanCreate, PlanDetail, PlanOut, TaskOut

DUE, REMIND, DEADLINE, RERAISE = "followup-due", "followup-remind", "followup-deadline", "followup-alert"
LIVE = ("scheduled", "open")
RETRIES = 3


def _bindings():
    from chalicelib.bindings import service

    return service


def _messaging():
    from chalicelib.messaging import service

    return service


def _window_h() -> int:
    return get_settings().followup_window_h


def _reraise_after() -> timedelta:
    return timedelta(hours=get_settings().followup_alert_reraise_h)


# --- shapes ----------------------------------------------------------------------------------

def _item(plan: Plan, item_id: str) -> dict:
    return next(i for i in plan.items if i["item_id"] == item_id)


def _anchor(plan: Plan) -> date:
    return date.fromisoformat(plan.anchor_date)


def plan_out(p: Plan) -> PlanOut:
    return PlanOut(plan_id=p.plan_id, doctor_id=p.doctor_id, profile_id=p.profile_id, patient_name=p.patient_name,
                   template_id=p.template_id, template_version=int(p.template_version), name=p.name,
                   anchor_type=p.anchor_type, anchor_date=p.anchor_date, status=p.status, stop_reason=p.stop_reason,
                   created_at=clock.iso(p.created_at))


def _content(plan: Plan, item: dict) -> dict:
    kind = item["kind"]
    if kind == "questionnaire":
        return {"questionnaire": item["questionnaire"]}
    if kind == "article":
        art = item["article"]
        return {"article": {**art, "path": f"/v1/articles/{art['article_id']}"} if art.get("article_id") else art}
    if kind == "medication":
        return {"medication": item["medication"]}
    content = {"text": item.get("text")}
    if kind == "booking":  # a 加号 suggestion links to the doctor's open sessions
        content.update(doctor_id=plan.doctor_id, sessions_path=f"/v1/doctors/{plan.doctor_id}/booking/sessions")
    return content


def _advice(plan: Plan, t: Task) -> list[str]:
    if not t.alert_ids or t.kind != "questionnaire":
        return []
    q = _item(plan, t.item_id)["questionnaire"]
    fired = questionnaires.fired_rules(q, t.answers or {}, t.score)
    return [r["advice"] for r in fired if r["severity"] == "urgent" and r.get("advice")]


def task_out(plan: Plan, t: Task, *, detail: bool = False) -> TaskOut:
    item = _item(plan, t.item_id)
    late = t.completed_at is not None and t.completed_at > t.due_at + timedelta(hours=24)
    return TaskOut(plan_id=t.plan_id, task_id=t.task_id, item_id=t.item_id, occurrence=int(t.occurrence), kind=t.kind,
                   title=item["title"], status=t.status, due_at=clock.iso(t.due_at),
                   window_ends_at=clock.iso(t.window_ends_at), completed_at=clock.iso(t.completed_at), late=late,
                   score=t.score, band=t.band, answers=t.answers if detail else None,
                   advice=_advice(plan, t), content=_content(plan, item) if detail else None)


def alert_out(a: Alert) -> AlertOut:
    return AlertOut(alert_id=a.alert_id, severity=a.severity, status=a.status, plan_id=a.plan_id, task_id=a.task_id,
                    profile_id=a.profile_id, patient_name=a.patient_name, rule_id=a.rule_id, rule_text=a.rule_text,
                    raised_at=clock.iso(a.raised_at), raise_count=int(a.raise_count),
                    acknowledged_at=clock.iso(a.acknowledged_at))


def _utc(dt: datetime) -> str:
    return dt.isoformat()


def task_event(plan: Plan, t: Task, **extra) -> dict:
    """What a notification or a card needs: recipients and ids, never health data."""
    return {"plan_id": plan.plan_id, "task_id": t.task_id, "item_id": t.item_id, "kind": t.kind,
            "template_id": plan.template_id, "doctor_id": plan.doctor_id, "profile_id": plan.profile_id,
            "patient_account_id": plan.patient_account_id, "binding_id": plan.binding_id,
            "due_at": _utc(t.due_at), "window_ends_at": _utc(t.window_ends_at), **extra}


def _stats(plan: Plan, counts: dict[str, dict[str, int]], **extra) -> dict:
    return {"doctor_id": plan.doctor_id, "template_id": plan.template_id, "counts": counts, **extra}


# --- tasks and timers ------------------------------------------------------------------------

def _task_id(item_id: str, n: int) -> str:
    return f"{item_id}.{n:04d}"


def _new_task(plan: Plan, item: dict, n: int, gen: int = 1) -> Task:
    anchor = _anchor(plan)
    due = timing.due_of(item, anchor, n)
    end, remind = timing.window_of(item, anchor, n, _window_h())
    return Task(plan.plan_id, _task_id(item["item_id"], n), item_id=item["item_id"], occurrence=n, kind=item["kind"],
                status="scheduled", gen=gen, due_at=due, window_ends_at=end, remind_at=remind, reminded=False)


def _timer_payload(t: Task) -> dict:
    return {"plan_id": t.plan_id, "task_id": t.task_id, "gen": int(t.gen)}


def _timer_key(t: Task) -> str:
    return f"{t.plan_id}.{t.task_id}.{int(t.gen)}"


def _schedule_due(tx, t: Task, condition=None) -> None:
    tx.save(t, condition=condition if condition is not None else Task.task_id.does_not_exist())
    timers.schedule(DUE, t.due_at, _timer_payload(t), key=_timer_key(t), tx=tx)


def _cancel_timers(tx, t: Task) -> None:
    """Cancel what a live task still has pending."""
    if t.status == "scheduled":
        timers.cancel(timers.timer_id_for(DUE, _timer_key(t)), tx=tx)
    elif t.status == "open":
        timers.cancel(timers.timer_id_for(DEADLINE, _timer_key(t)), tx=tx)
        if not t.reminded:
            timers.cancel(timers.timer_id_for(REMIND, _timer_key(t)), tx=tx)


def _next_task(tx, plan: Plan, t: Task) -> Task | None:
    """After completing or missing ``t``: the next occurrence of its item, if any."""
    item = _item(plan, t.item_id)
    nxt = timing.first_due(item, _anchor(plan), int(t.occurrence) + 1, clock.now(), _window_h())
    if nxt is None:
        return None
    task = _new_task(plan, item, nxt[0])
    _schedule_due(tx, task)
    return task


def _plan_active(tx, plan: Plan) -> None:
    tx.condition_check(Plan, plan.plan_id, condition=Plan.status == "active")


# --- plans (doctor) --------------------------------------------------------------------------

def _cond(t: Task, status: str):
    return (Task.status == status) & (Task.gen == t.gen)


def _get_plan(plan_id: str, consistent: bool = False) -> Plan:
    try:
        return Plan.get(plan_id, consistent_read=consistent)
    except Plan.DoesNotExist:
        raise NotFound("plan not found")


def doctors_plan(caller, plan_id: str) -> Plan:
    p = _get_plan(plan_id, consistent=True)
    if p.doctor_id != caller.account_id:
        raise NotFound("plan not found")
    return p


def patients_plan(caller, plan_id: str) -> Plan:
    """The plan of a profile the caller's account manages (family members included)."""
    p = _get_plan(plan_id, consistent=True)
    if p.patient_account_id != caller.account_id:
        raise NotFound("plan not found")
    return p


def assign(caller, body: PlanCreate, *, plan_id: str | None = None) -> PlanDetail:
    head = templates.readable(caller, body.template_id)
    version = templates.version_of(head, body.version)
    b = _bindings().get_active_binding(caller.account_id, body.profile_id)
    if b is None:
        raise NotFound("no active binding with this patient")
    now = clock.now()
    plan = Plan(plan_id or new_id(), doctor_id=caller.account_id, profile_id=b.profile_id,
                patient_account_id=b.patient_account_id,
                binding_id=b.binding_id, patient_name=b.patient_name, template_id=head.template_id,
                template_version=int(version.version), doctor_template=f"{caller.account_id}#{head.template_id}",
                name=version.name, anchor_type=version.anchor_type, anchor_date=body.anchor_date.isoformat(),
                items=version.items, status="active", live_pair=f"{caller.account_id}#{b.profile_id}",
                created_at=now, updated_at=now)
    tasks = []
    with transaction() as tx:
        tx.save(plan, condition=Plan.plan_id.does_not_exist())
        for item in plan.items:
            first = timing.first_due(item, body.anchor_date, 0, now, _window_h())
            if first is not None:
                t = _new_task(plan, item, first[0])
                _schedule_due(tx, t)
                tasks.append(t)
        emit(tx, "followup.plan_assigned", {"plan_id": plan.plan_id, "doctor_id": plan.doctor_id,
                                            "profile_id": plan.profile_id, "patient_account_id": plan.patient_account_id,
                                            "binding_id": plan.binding_id, "template_id": plan.template_id,
                                            **_stats(plan, {t.item_id: {"scheduled": 1} for t in tasks}, plans=1)})
    return PlanDetail(**plan_out(plan).model_dump(), items=plan.items, tasks=[task_out(plan, t) for t in tasks])


class _Doctor:
    role = "doctor"
    is_admin = False

    def __init__(self, account_id: str):
        self.account_id = account_id


def assign_for(doctor_id: str, profile_id: str, template_id: str, anchor_date: date, *, plan_id: str) -> str:
    """For other domains (a surgery referral's post-operative plan): the plan the doctor would
    assign, under an id the caller reserved, so a redelivered event finds it made (idempotent).
    404 if the doctor is not bound to the profile or may not use the template."""
    try:
        _get_plan(plan_id, consistent=True)
        return plan_id
    except NotFound:
        pass
    body = PlanCreate(template_id=template_id, profile_id=profile_id, anchor_date=anchor_date)
    try:
        assign(_Doctor(doctor_id), body, plan_id=plan_id)
    except TransactWriteError:
        _get_plan(plan_id, consistent=True)  # made concurrently; 404 if it was something else
    return plan_id


@consumer("referral.postop_plan_requested")
def _on_referral_postop_plan(event_id: str, p: dict) -> None:
    """A surgery referral's post-operative plan, for the doctor the referrals domain chose, under
    the id it reserved on the case: a redelivery finds the plan made."""
    assign_for(p["doctor_id"], p["profile_id"], p["template_id"], date.fromisoformat(p["anchor_date"]),
               plan_id=p["plan_id"])


def _tasks(plan_id: str) -> list[Task]:
    return list(Task.query(plan_id, consistent_read=True))


def plan_detail(plan: Plan, detail: bool = False) -> PlanDetail:
    return PlanDetail(**plan_out(plan).model_dump(), items=plan.items,
                      tasks=[task_out(plan, t, detail=detail) for t in timeline(_tasks(plan.plan_id))])


def timeline(tasks: list[Task]) -> list[Task]:
    return sorted(tasks, key=lambda t: (t.due_at, t.task_id))


def doctor_plans(caller, profile_id: str | None, limit, cursor) -> Page:
    kw = {}
    if profile_id:
        kw["filter_condition"] = Plan.profile_id == profile_id
    page = query_page(Plan, Plan.by_doctor.query, caller.account_id, limit=parse_limit(limit), cursor=cursor,
                      scan_index_forward=False, **kw)
    return Page([plan_out(p) for p in page.items], page.next_cursor)


def patient_plans(caller, profile_id: str | None, limit, cursor) -> Page:
    if not profile_id:
        from chalicelib.core.errors import BadRequest

        raise BadRequest("profile_id is required", code="validation_error")
    page = query_page(Plan, Plan.by_profile.query, profile_id, limit=parse_limit(limit), cursor=cursor,
                      scan_index_forward=False, filter_condition=Plan.patient_account_id == caller.account_id)
    return Page([plan_out(p) for p in page.items], page.next_cursor)


def _halt(plan: Plan, to: str, reason: str | None) -> Plan:
    """Pause or stop: every live task cancelled with its timers, in one transaction with the plan."""
    for _ in range(RETRIES):
        live = [t for t in _tasks(plan.plan_id) if t.status in LIVE]
        now = clock.now()
        actions: list[Action] = [Plan.status.set(to), Plan.updated_at.set(now)]
        if to == "stopped":
            actions.append(Plan.live_pair.remove())
            if reason:
                actions.append(Plan.stop_reason.set(reason))
        try:
            with transaction() as tx:
                tx.update(plan, actions=actions, condition=Plan.status == plan.status)
                for t in live:
                    _cancel_timers(tx, t)
                    tx.update(t, actions=[Task.status.set("cancelled")],
                              condition=(Task.status == t.status) & (Task.gen == t.gen))
                emit(tx, f"followup.plan_{to}", {"plan_id": plan.plan_id, "doctor_id": plan.doctor_id,
                                                 "profile_id": plan.profile_id, "reason": reason,
                                                 "patient_account_id": plan.patient_account_id,
                                                 **_stats(plan, {t.item_id: {"cancelled": 1} for t in live})})
            plan.refresh(consistent_read=True)
            return plan
        except TransactWriteError:
            plan = _get_plan(plan.plan_id, consistent=True)
            if plan.status == to or plan.status == "stopped":
                return plan
    raise Conflict("the plan is busy, please retry", code="retry")


def pause(caller, plan_id: str) -> PlanOut:
    plan = doctors_plan(caller, plan_id)
    if plan.status != "active":
        raise Conflict(f"the plan is {plan.status}", code="invalid_state")
    return plan_out(_halt(plan, "paused", None))


def stop(caller, plan_id: str) -> PlanOut:
    plan = doctors_plan(caller, plan_id)
    if plan.status == "stopped":
        raise Conflict("the plan is stopped", code="invalid_state")
    return plan_out(_halt(plan, "stopped", "doctor"))


def _restart(plan: Plan, *, anchor: date | None, resume: bool) -> None:
    """Resume a paused plan, or move the anchor of an active one: each item's pending
    occurrence is recomputed from the (new) anchor, skipping what is already past; a task that
    is open keeps its window, and what was done stays done."""
    now = clock.now()
    last: dict[str, Task] = {}
    for t in _tasks(plan.plan_id):
        if t.item_id not in last or t.occurrence > last[t.item_id].occurrence:
            last[t.item_id] = t
    new_anchor = anchor or _anchor(plan)
    moved = Plan(plan.plan_id, **{k: getattr(plan, k) for k in Plan.get_attributes() if k != "plan_id"})
    moved.anchor_date = new_anchor.isoformat()
    counts: dict[str, dict[str, int]] = {}
    with transaction() as tx:
        actions: list[Action] = [Plan.updated_at.set(now), Plan.anchor_date.set(new_anchor.isoformat())]
        if resume:
            actions.append(Plan.status.set("active"))
        tx.update(plan, actions=actions, condition=Plan.status == plan.status)
        for item in plan.items:
            prev = last.get(item["item_id"])
            if prev is not None and prev.status == "open":
                continue
            # an occurrence that was ever opened (done, missed, or cancelled while open) never opens again
            start = 0 if prev is None else int(prev.occurrence) + (
                prev.status in ("completed", "missed") or prev.opened_at is not None)
            nxt = timing.first_due(item, new_anchor, start, now, _window_h())
            tid = _task_id(item["item_id"], nxt[0]) if nxt else None
            c = counts.setdefault(item["item_id"], {})
            if prev is not None and prev.status == "scheduled":
                _cancel_timers(tx, prev)
                if tid != prev.task_id:
                    tx.update(prev, actions=[Task.status.set("cancelled")], condition=_cond(prev, "scheduled"))
                    c["cancelled"] = 1
            if nxt is None:
                continue
            if prev is not None and prev.task_id == tid:
                if prev.status == "cancelled":
                    c["scheduled"] = 1
                _schedule_due(tx, _new_task(moved, item, nxt[0], int(prev.gen) + 1), _cond(prev, prev.status))
            else:
                c["scheduled"] = 1
                _schedule_due(tx, _new_task(moved, item, nxt[0]), Task.task_id.does_not_exist())
        emit(tx, "followup.plan_rescheduled", {"plan_id": plan.plan_id, "doctor_id": plan.doctor_id,
                                               "profile_id": plan.profile_id,
                                               **_stats(plan, {k: v for k, v in counts.items() if v})})


def resume(caller, plan_id: str) -> PlanDetail:
    plan = doctors_plan(caller, plan_id)
    if plan.status != "paused":
        raise Conflict(f"the plan is {plan.status}", code="invalid_state")
    if _bindings().get_active_binding(plan.doctor_id, plan.profile_id) is None:
        raise Conflict("the binding with this patient has ended", code="binding_ended")
    try:
        _restart(plan, anchor=None, resume=True)
    except TransactWriteError:
        raise Conflict("the plan changed meanwhile, please retry", code="retry")
    return plan_detail(_get_plan(plan_id, consistent=True))


def change_anchor(caller, plan_id: str, anchor: date) -> PlanDetail:
    plan = doctors_plan(caller, plan_id)
    if plan.status == "stopped":
        raise Conflict("the plan is stopped", code="invalid_state")
    if plan.status == "paused":
        plan.update(actions=[Plan.anchor_date.set(anchor.isoformat())], condition=Plan.status == "paused")
    else:
        try:
            _restart(plan, anchor=anchor, resume=False)
        except TransactWriteError:
            raise Conflict("the plan changed meanwhile, please retry", code="retry")
    return plan_detail(_get_plan(plan_id, consistent=True))


@consumer("binding.ended", "binding.blocked")
def _on_binding_gone(event_id: str, payload: dict) -> None:
    """The binding ended or the doctor blocked the patient: every live plan of the pair stops
    (re-reads the binding, so an out-of-order event is harmless)."""
    if _bindings().get_active_binding(payload["doctor_id"], payload["profile_id"]) is not None:
        return
    for key in Plan.by_pair.query(f"{payload['doctor_id']}#{payload['profile_id']}"):
        plan = _get_plan(key.plan_id, consistent=True)
        if plan.status != "stopped":
            _halt(plan, "stopped", "binding_ended")


# the domain's other consumers register when their modules are imported
from . import alerts, research, views  # noqa: E402,F401
from . import tasks as task_consumers  # noqa: E402,F401
