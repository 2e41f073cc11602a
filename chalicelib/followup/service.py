"""Follow-up plans (随访): assignment, the next-occurrence timers, task windows, answers,
alerts and their acknowledgement.

Each plan item has at most one live task (``scheduled`` with a due timer, or ``open`` with a
reminder and a deadline timer). Opening, reminding, missing and completing a task are
conditional writes that commit with their outbox event, the next occurrence's task and timer,
and a condition that the plan is still active — so a task fires at most once, never after its
plan stopped, and is reminded at most once. Timers carry the task's generation: rescheduling
bumps it, and a timer of an older generation finds nothing to do.

Templates live in ``templates.py``; counters and views in ``views.py``; research consent and
exports in ``research.py``.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from pynamodb.exceptions import TransactWriteError

from chalicelib.core import clock, timers
from chalicelib.core.config import get_settings
from chalicelib.core.errors import Conflict, NotFound, Unprocessable
from chalicelib.core.ids import new_id
from chalicelib.core.observability import logger
from chalicelib.core.outbox import consumer, emit, transaction
from chalicelib.core.pagination import Page, parse_limit, query_page

from . import questionnaires, templates, timing
from .models import Alert, Plan, Task
from .schemas import AlertOut, AnswerOut, PlanCreate, PlanDetail, PlanOut, TaskOut

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
        return {"article": item["article"]}
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
        actions = [Plan.status.set(to), Plan.updated_at.set(now)]
        if to == "stopped":
            actions += [Plan.live_pair.remove(), Plan.stop_reason.set(reason)]
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
        actions = [Plan.updated_at.set(now), Plan.anchor_date.set(new_anchor.isoformat())]
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


# --- timers: due, reminder, deadline ---------------------------------------------------------

def _live_task(payload: dict, status: str) -> tuple[Plan, Task] | None:
    try:
        t = Task.get(payload["plan_id"], payload["task_id"], consistent_read=True)
    except Task.DoesNotExist:
        return None
    if t.status != status or int(t.gen) != int(payload["gen"]):
        return None
    plan = _get_plan(t.plan_id, consistent=True)
    if plan.status != "active":
        return None
    return plan, t


def _cond(t: Task, status: str):
    return (Task.status == status) & (Task.gen == t.gen)


@consumer(f"timer.{DUE}")
def _on_due(event_id: str, payload: dict) -> None:
    found = _live_task(payload, "scheduled")
    if found is None:
        return
    plan, t = found
    try:
        with transaction() as tx:
            tx.update(t, actions=[Task.status.set("open"), Task.opened_at.set(clock.now())], condition=_cond(t, "scheduled"))
            _plan_active(tx, plan)
            timers.schedule(REMIND, t.remind_at, _timer_payload(t), key=_timer_key(t), tx=tx)
            timers.schedule(DEADLINE, t.window_ends_at, _timer_payload(t), key=_timer_key(t), tx=tx)
            emit(tx, "followup.task_due", task_event(plan, t))
    except TransactWriteError:
        logger.info("followup task not opened", extra={"plan_id": t.plan_id, "task_id": t.task_id})


@consumer(f"timer.{REMIND}")
def _on_remind(event_id: str, payload: dict) -> None:
    found = _live_task(payload, "open")
    if found is None or found[1].reminded:
        return
    plan, t = found
    try:
        with transaction() as tx:
            tx.update(t, actions=[Task.reminded.set(True)], condition=_cond(t, "open") & (Task.reminded == False))  # noqa: E712
            _plan_active(tx, plan)
            emit(tx, "followup.task_reminder", task_event(plan, t))
    except TransactWriteError:
        pass


@consumer(f"timer.{DEADLINE}")
def _on_deadline(event_id: str, payload: dict) -> None:
    found = _live_task(payload, "open")
    if found is None:
        return
    plan, t = found
    try:
        with transaction() as tx:
            tx.update(t, actions=[Task.status.set("missed")], condition=_cond(t, "open"))
            _plan_active(tx, plan)
            if not t.reminded:
                timers.cancel(timers.timer_id_for(REMIND, _timer_key(t)), tx=tx)
            nxt = _next_task(tx, plan, t)
            counts = {t.item_id: {"missed": 1, **({"scheduled": 1} if nxt else {})}}
            emit(tx, "followup.task_missed", task_event(plan, t, **_stats(plan, counts)))
    except TransactWriteError:
        pass


# --- the patient's side: tasks, answers ------------------------------------------------------

def _get_task(plan_id: str, task_id: str) -> Task:
    try:
        return Task.get(plan_id, task_id, consistent_read=True)
    except Task.DoesNotExist:
        raise NotFound("task not found")


def get_task(caller, plan_id: str, task_id: str) -> TaskOut:
    plan = patients_plan(caller, plan_id)
    return task_out(plan, _get_task(plan_id, task_id), detail=True)


def _answerable(plan: Plan, t: Task) -> None:
    if plan.status != "active":
        raise Conflict(f"the plan is {plan.status}", code="plan_not_active")
    if t.status == "scheduled":
        raise Conflict("this task is not due yet", code="not_due")
    if t.status != "open":
        raise Conflict(f"this task is {t.status}", code="task_closed")
    if clock.now() > t.window_ends_at:  # the deadline timer may run a sweep later
        raise Conflict("the window to answer has closed", code="window_closed")


def complete(caller, plan_id: str, task_id: str) -> TaskOut:
    """Mark a reminder, article, 加号 suggestion or medication dose done."""
    plan = patients_plan(caller, plan_id)
    t = _get_task(plan_id, task_id)
    if t.kind == "questionnaire":
        raise Unprocessable("a questionnaire is completed by answering it", code="needs_answers")
    _answerable(plan, t)
    _finish(plan, t, [], answers=None, score=None, band=None)
    return task_out(plan, t, detail=True)


def answer(caller, plan_id: str, task_id: str, raw: dict) -> AnswerOut:
    plan = patients_plan(caller, plan_id)
    t = _get_task(plan_id, task_id)
    if t.kind != "questionnaire":
        raise Unprocessable("only a questionnaire takes answers", code="not_a_questionnaire")
    _answerable(plan, t)
    q = _item(plan, t.item_id)["questionnaire"]
    answers = questionnaires.validate(q, raw)
    photos = questionnaires.photos(q, answers)
    if photos and not _messaging().attachments_in_conversation(photos, plan.binding_id):
        raise Unprocessable("photos must be uploaded to the conversation with this doctor first",
                            code="invalid_attachment")
    score, band = questionnaires.score(q, answers)
    fired = questionnaires.fired_rules(q, answers, score)
    alerts = _finish(plan, t, fired, answers=answers, score=score, band=band)
    advice = [r["advice"] for r in fired if r["severity"] == "urgent" and r.get("advice")]
    return AnswerOut(task=task_out(plan, t, detail=True), alerts=[a.alert_id for a in alerts], advice=advice)


def _alert_event(a: Alert) -> dict:
    return {"alert_id": a.alert_id, "severity": a.severity, "critical": a.severity == "urgent",
            "digest": a.severity == "routine", "raise_count": int(a.raise_count), "doctor_id": a.doctor_id,
            "profile_id": a.profile_id, "patient_account_id": a.patient_account_id, "plan_id": a.plan_id,
            "task_id": a.task_id}


def _open_key(severity: str, raised_at: datetime, alert_id: str) -> str:
    return f"{0 if severity == 'urgent' else 1}#{timers.due_key(raised_at)}#{alert_id}"


def _finish(plan: Plan, t: Task, fired: list[dict], *, answers, score, band) -> list[Alert]:
    """Complete an open task: answers, alerts (each with its event now — never batched), the
    next occurrence, all in one transaction."""
    now = clock.now()
    alerts = [Alert(new_id(), doctor_id=plan.doctor_id, profile_id=plan.profile_id,
                    patient_account_id=plan.patient_account_id, patient_name=plan.patient_name,
                    pair=f"{plan.doctor_id}#{plan.profile_id}", plan_id=plan.plan_id, task_id=t.task_id,
                    rule_id=r["rule_id"], rule_text=r["text"], severity=r["severity"], status="open",
                    open_doctor=plan.doctor_id, raised_at=now, raise_count=1) for r in fired]
    for a in alerts:
        a.open_key = _open_key(a.severity, now, a.alert_id)
    delay_h = max(0.0, (now - t.due_at).total_seconds() / 3600)
    actions = [Task.status.set("completed"), Task.completed_at.set(now)]
    if answers is not None:
        actions += [Task.answers.set(answers), Task.alert_ids.set([a.alert_id for a in alerts])]
        if score is not None:
            actions.append(Task.score.set(score))
        if band is not None:
            actions.append(Task.band.set(band))
    try:
        with transaction() as tx:
            tx.update(t, actions=actions, condition=_cond(t, "open"))
            _plan_active(tx, plan)
            timers.cancel(timers.timer_id_for(DEADLINE, _timer_key(t)), tx=tx)
            if not t.reminded:
                timers.cancel(timers.timer_id_for(REMIND, _timer_key(t)), tx=tx)
            for a in alerts:
                tx.save(a, condition=Alert.alert_id.does_not_exist())
                emit(tx, "followup.alert_raised", _alert_event(a))
                if a.severity == "urgent":
                    timers.schedule(RERAISE, now + _reraise_after(), {"alert_id": a.alert_id, "count": 1},
                                    key=f"{a.alert_id}.1", tx=tx)
            nxt = _next_task(tx, plan, t)
            counts = {t.item_id: {"completed": 1, **({"scheduled": 1} if nxt else {})}}
            emit(tx, "followup.task_completed",
                 task_event(plan, t, delay_hours=round(delay_h, 2), answered=answers is not None,
                            alerts=len(alerts), **_stats(plan, counts)))
    except TransactWriteError:
        raise Conflict("this task changed meanwhile, reload it", code="retry")
    t.status, t.completed_at, t.answers, t.score, t.band = "completed", now, answers, score, band
    t.alert_ids = [a.alert_id for a in alerts] if answers is not None else None
    return alerts


# --- alerts (doctor) -------------------------------------------------------------------------

def _doctors_alert(caller, alert_id: str) -> Alert:
    try:
        a = Alert.get(alert_id, consistent_read=True)
    except Alert.DoesNotExist:
        raise NotFound("alert not found")
    if a.doctor_id != caller.account_id:
        raise NotFound("alert not found")
    return a


def open_alerts(caller, limit, cursor) -> Page:
    page = query_page(Alert, Alert.open_by_doctor.query, caller.account_id, limit=parse_limit(limit), cursor=cursor)
    return Page([alert_out(a) for a in page.items], page.next_cursor)


def acknowledge(caller, alert_id: str, note: str | None) -> AlertOut:
    a = _doctors_alert(caller, alert_id)
    if a.status != "open":
        raise Conflict("the alert is already acknowledged", code="invalid_state")
    now = clock.now()
    actions = [Alert.status.set("acknowledged"), Alert.acknowledged_at.set(now),
               Alert.acknowledged_by.set(caller.account_id), Alert.open_doctor.remove(), Alert.open_key.remove()]
    if note:
        actions.append(Alert.note.set(note))
    try:
        with transaction() as tx:
            tx.update(a, actions=actions, condition=(Alert.status == "open") & (Alert.raise_count == a.raise_count))
            if a.severity == "urgent":
                timers.cancel(timers.timer_id_for(RERAISE, f"{a.alert_id}.{int(a.raise_count)}"), tx=tx)
            emit(tx, "followup.alert_acknowledged", {"alert_id": a.alert_id, "doctor_id": a.doctor_id,
                                                     "profile_id": a.profile_id, "plan_id": a.plan_id})
    except TransactWriteError:
        raise Conflict("the alert changed meanwhile, reload it", code="retry")
    a.refresh(consistent_read=True)
    return alert_out(a)


@consumer(f"timer.{RERAISE}")
def _on_reraise(event_id: str, payload: dict) -> None:
    """An urgent alert nobody acknowledged within N hours is raised again (and again)."""
    try:
        a = Alert.get(payload["alert_id"], consistent_read=True)
    except Alert.DoesNotExist:
        return
    count = int(payload["count"])
    if a.status != "open" or int(a.raise_count) != count:
        return
    try:
        with transaction() as tx:
            tx.update(a, actions=[Alert.raise_count.set(count + 1)],
                      condition=(Alert.status == "open") & (Alert.raise_count == count))
            a.raise_count = count + 1
            emit(tx, "followup.alert_raised", {**_alert_event(a), "reraised": True})
            timers.schedule(RERAISE, clock.now() + _reraise_after(), {"alert_id": a.alert_id, "count": count + 1},
                            key=f"{a.alert_id}.{count + 1}", tx=tx)
    except TransactWriteError:
        pass


from . import research, views  # noqa: E402,F401  (their event consumers register on import)
