"""Follow-up tasks: the due, reminder and deadline timers that open, remind and miss a task, and
the patient's side (read a task, complete it, answer a questionnaire). Completing a task writes
its answers, its alerts with their events and the next occurrence in one transaction."""

from __future__ import annotations

from pynamodb.exceptions import TransactWriteError
from pynamodb.expressions.update import Action

from chalicelib.core import clock, timers
from chalicelib.core.errors import Conflict, NotFound, Unprocessable
from chalicelib.core.ids import new_id
from chalicelib.core.observability import logger
from chalicelib.core.outbox import consumer, emit, transaction

from . import questionnaires
from .alerts import alert_event, open_key
from .models import Alert, Plan, Task
from .schemas import AnswerOut, TaskOut
from .service import (
    DEADLINE,
    DUE,
    REMIND,
    RERAISE,
    _cond,
    _get_plan,
    _item,
    _messaging,
    _next_task,
    _plan_active,
    _reraise_after,
    _stats,
    _timer_key,
    _timer_payload,
    patients_plan,
    task_event,
    task_out,
)


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
        a.open_key = open_key(a.severity, now, a.alert_id)
    delay_h = max(0.0, (now - t.due_at).total_seconds() / 3600)
    actions: list[Action] = [Task.status.set("completed"), Task.completed_at.set(now)]
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
                emit(tx, "followup.alert_raised", alert_event(a))
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
