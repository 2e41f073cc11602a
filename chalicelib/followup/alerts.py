"""Follow-up alerts for the doctor: the open list (urgent first), acknowledgement, and the
re-raise timer of an urgent alert nobody acknowledged."""

from __future__ import annotations

from datetime import datetime

from pynamodb.exceptions import TransactWriteError
from pynamodb.expressions.update import Action

from chalicelib.core import clock, timers
from chalicelib.core.errors import Conflict, NotFound
from chalicelib.core.outbox import consumer, emit, transaction
from chalicelib.core.pagination import Page, parse_limit, query_page

from .models import Alert
from .schemas import AlertOut
from .service import RERAISE, _reraise_after, alert_out


def alert_event(a: Alert) -> dict:
    return {"alert_id": a.alert_id, "severity": a.severity, "critical": a.severity == "urgent",
            "digest": a.severity == "routine", "raise_count": int(a.raise_count), "doctor_id": a.doctor_id,
            "profile_id": a.profile_id, "patient_account_id": a.patient_account_id, "plan_id": a.plan_id,
            "task_id": a.task_id}


def open_key(severity: str, raised_at: datetime, alert_id: str) -> str:
    return f"{0 if severity == 'urgent' else 1}#{timers.due_key(raised_at)}#{alert_id}"


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
    actions: list[Action] = [Alert.status.set("acknowledged"), Alert.acknowledged_at.set(now),
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
            emit(tx, "followup.alert_raised", {**alert_event(a), "reraised": True})
            timers.schedule(RERAISE, clock.now() + _reraise_after(), {"alert_id": a.alert_id, "count": count + 1},
                            key=f"{a.alert_id}.{count + 1}", tx=tx)
    except TransactWriteError:
        pass
