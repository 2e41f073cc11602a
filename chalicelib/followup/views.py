"""The doctor's follow-up views: per patient (timeline, trends of numeric answers, open
alerts) and per template (adherence, median delay, alert rate).

Adherence comes from counters (``TemplateStat``) that this domain's own consumer keeps from its
events, one item per template item plus ``_all`` — a view reads those, never the tasks.
"""

from __future__ import annotations

from datetime import date

from chalicelib.core import audit, clock
from chalicelib.core.errors import NotFound
from chalicelib.core.outbox import commit_once, consumer

from . import service, templates
from .models import Alert, Plan, TemplateStat
from .schemas import Adherence, ItemAdherence, PatientFollowup, Trend, TrendPoint

DELAY_BUCKETS = (1, 6, 12, 24, 48, 72)  # upper bounds in hours; the last bucket is ≥ 72
MAX_PLANS = 20


def _bucket(hours: float) -> int:
    return next((i for i, b in enumerate(DELAY_BUCKETS) if hours < b), len(DELAY_BUCKETS))


def _stat_key(doctor_id: str, template_id: str) -> str:
    return f"{doctor_id}#{template_id}"


@consumer("followup.plan_assigned", "followup.plan_paused", "followup.plan_stopped", "followup.plan_rescheduled",
          "followup.task_completed", "followup.task_missed")
def _count(event_id: str, payload: dict) -> None:
    """Apply an event's counter deltas: every counter and the event's completion marker move in
    one transaction (≤ 20 items + ``_all`` + marker), so a redelivery adds nothing twice."""
    key = _stat_key(payload["doctor_id"], payload["template_id"])
    updates: list[tuple[str, list]] = []
    for item_id, deltas in (payload.get("counts") or {}).items():
        actions = [getattr(TemplateStat, f).add(n) for f, n in deltas.items() if n]
        if "delay_hours" in payload and deltas.get("completed"):
            actions.append(getattr(TemplateStat, f"d{_bucket(payload['delay_hours'])}").add(1))
        if actions:
            updates.append((item_id, actions))
    total = {f: n for f, n in (("plans", payload.get("plans")), ("alerts", payload.get("alerts"))) if n}
    if payload.get("answered"):
        total["answered"] = 1
    if total:
        updates.append(("_all", [getattr(TemplateStat, f).add(n) for f, n in total.items()]))
    def write(tx) -> None:
        for item_id, actions in updates:
            tx.update(TemplateStat(key, item_id), actions=actions)

    if updates:
        commit_once(f"followup.stats#{event_id}", write)


def _median_hours(s: TemplateStat) -> float | None:
    counts = [int(getattr(s, f"d{i}") or 0) for i in range(len(DELAY_BUCKETS) + 1)]
    n = sum(counts)
    if not n:
        return None
    half, seen, lower = n / 2, 0, 0.0
    for i, c in enumerate(counts):
        upper = DELAY_BUCKETS[i] if i < len(DELAY_BUCKETS) else DELAY_BUCKETS[-1] * 2
        if c and seen + c >= half:
            return round(lower + (upper - lower) * (half - seen) / c, 1)  # interpolated within the bucket
        seen += c
        lower = upper
    return None


def adherence(caller, template_id: str) -> Adherence:
    head = templates.readable(caller, template_id)
    stats = {s.item_id: s for s in TemplateStat.query(_stat_key(caller.account_id, template_id))}
    titles = {i["item_id"]: i["title"] for i in head.items}
    items = []
    for item_id in list(titles) + sorted(k for k in stats if k not in titles and k != "_all"):
        s = stats.get(item_id) or TemplateStat(_stat_key(caller.account_id, template_id), item_id)
        done, missed, cancelled = int(s.completed or 0), int(s.missed or 0), int(s.cancelled or 0)
        items.append(ItemAdherence(item_id=item_id, title=titles.get(item_id, item_id), completed=done, missed=missed,
                                   pending=max(0, int(s.scheduled or 0) - done - missed - cancelled),
                                   median_delay_hours=_median_hours(s)))
    total = stats.get("_all")
    answered = int(total.answered or 0) if total else 0
    alerts = int(total.alerts or 0) if total else 0
    return Adherence(template_id=template_id, plans=int(total.plans or 0) if total else 0, items=items,
                     answered=answered, alerts=alerts, alert_rate=round(alerts / answered, 3) if answered else None)


def _trends(plan, tasks) -> list[Trend]:
    anchor = date.fromisoformat(plan.anchor_date)
    out = []
    for item in plan.items:
        q = item.get("questionnaire")
        if not q:
            continue
        done = [t for t in service.timeline(tasks) if t.item_id == item["item_id"] and t.status == "completed" and t.answers]
        series = [(qq["qid"], qq["text"], qq.get("unit")) for qq in q["questions"] if qq["type"] in ("number", "scale")]
        if q.get("scoring"):
            series.append(("score", f"{q['title']} 总分", None))
        for key, label, unit in series:
            points = []
            for t in done:
                value = t.score if key == "score" else t.answers.get(key)
                if value is None:
                    continue
                local = t.completed_at.astimezone(clock.SHANGHAI).date()
                points.append(TrendPoint(day=(local - anchor).days, at=clock.iso(t.completed_at), value=float(value)))
            if points:
                out.append(Trend(plan_id=plan.plan_id, item_id=item["item_id"], key=key, label=label, unit=unit,
                                 points=points))
    return out


def patient(caller, profile_id: str, request_id: str) -> PatientFollowup:
    """Everything a doctor needs about one patient's follow-up; 404 unless the doctor has a
    plan for this profile. Reading answers is audited."""
    plans = list(Plan.by_profile.query(profile_id, filter_condition=Plan.doctor_id == caller.account_id,
                                       scan_index_forward=False, limit=MAX_PLANS))
    if not plans:
        raise NotFound("no follow-up plan for this patient")
    details, trends = [], []
    for p in plans:
        tasks = service._tasks(p.plan_id)
        details.append(service.PlanDetail(**service.plan_out(p).model_dump(), items=p.items,
                                          tasks=[service.task_out(p, t, detail=True) for t in service.timeline(tasks)]))
        trends += _trends(p, tasks)
    alerts = [service.alert_out(a) for a in Alert.by_pair.query(f"{caller.account_id}#{profile_id}",
                                                                 filter_condition=Alert.status == "open")]
    alerts.sort(key=lambda a: (a.severity != "urgent", a.raised_at))
    audit.record(caller=caller, subject_profile_id=profile_id, action="read", object_type="followup_patient",
                 object_id=profile_id, request_id=request_id)
    return PatientFollowup(profile_id=profile_id, plans=details, trends=trends, open_alerts=alerts)
