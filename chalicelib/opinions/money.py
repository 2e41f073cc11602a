"""Money for second opinions, all through the payments domain's service: paid at submission,
one full refund per case at most (one refund request key per case, whatever triggers it), the
expert's share credited when the report is published, and the operators' counters.

Refund rules: full refund if withdrawn before an expert accepts, if no expert accepts, or if the
deadline passes without a report (timer); after acceptance only an operator's decision with a
reason, and disagreeing with the opinion is no ground. After the report is published (and the
expert paid) there is no refund through this service.
"""

from __future__ import annotations

from pynamodb.exceptions import TransactWriteError
from pynamodb.expressions.update import Action

from chalicelib import calls
from chalicelib.core import clock, timers
from chalicelib.core.errors import Conflict, NotFound, Unprocessable
from chalicelib.core.observability import logger
from chalicelib.core.outbox import consumer, emit, transaction

from .common import COUNTER, OPEN, case_out, count, get_case, payload
from .matching import DEADLINE_TIMER, RESPOND_TIMER
from .models import Case, Counter, Expert
from .schemas import Stats

payments = calls.client("payments")  # synchronous, to payments' function (chalicelib/calls.py)

GROUNDS = ("withdrawn", "no_expert", "deadline", "operator")


def _refund_key(case_id: str) -> str:
    return f"opinion:{case_id}"


# --- payment ---------------------------------------------------------------------------------

@consumer("order.paid")
def _on_paid(event_id: str, p: dict) -> None:
    if p.get("product_type") != "second_opinion" or p.get("late"):
        return  # a late payment is refunded by payments itself
    try:
        c = get_case(p["product_id"])
    except NotFound:
        return
    if c.status == "awaiting_payment" and c.order_id == p["order_id"]:
        try:
            with transaction() as tx:
                tx.update(c, actions=[Case.status.set("triage"), Case.queue.set("triage")],
                          condition=(Case.status == "awaiting_payment") & (Case.order_id == p["order_id"]))
                count(tx, paid=1)
                emit(tx, "opinion.submitted", payload(c, order_id=p["order_id"]))
            return
        except TransactWriteError:
            c = get_case(p["product_id"])
    if c.order_id == p["order_id"] and c.status != "awaiting_payment" and c.status not in ("withdrawn", "cancelled"):
        return  # a duplicate delivery
    _pay_back(p["order_id"], c.case_id, "病例已撤回，全额退款")


@consumer("order.closed")
def _on_closed(event_id: str, p: dict) -> None:
    if p.get("product_type") != "second_opinion":
        return
    try:
        c = get_case(p["product_id"])
    except NotFound:
        return
    if c.status == "awaiting_payment":
        try:
            c.update(actions=[Case.status.set("cancelled"), Case.ended_at.set(clock.now())],
                     condition=Case.status == "awaiting_payment")
        except Exception:  # paid meanwhile
            pass


@consumer("opinion.withdrawn")
def _close_unpaid(event_id: str, p: dict) -> None:
    if not p.get("order_id"):
        return
    try:
        payments.close_order(order_id=p["order_id"], reason="case withdrawn")
    except Conflict:
        pass  # paid meanwhile: ``order.paid`` finds the case withdrawn and refunds it


# --- refunds ---------------------------------------------------------------------------------

def refund_case(c: Case, ground: str, reason: str, *, allowed=OPEN) -> bool:
    """Move a paid, open case to ``refunded`` (releasing the holder and the timers) in one
    transaction with ``opinion.refunded``; its consumer asks payments for the money."""
    if c.status not in allowed:
        return False
    actions: list[Action] = [Case.status.set("refunded"), Case.refund_reason.set(reason), Case.queue.remove(),
               Case.holder_id.remove(), Case.ended_at.set(clock.now())]
    try:
        with transaction() as tx:
            tx.update(c, actions=actions, condition=Case.status == c.status)
            if c.holder_id and c.status in ("assigned", "accepted"):
                tx.update(Expert(c.holder_id), actions=[Expert.open_cases.add(-1)])
            if c.status == "assigned":
                timers.cancel(timers.timer_id_for(RESPOND_TIMER, f"{c.case_id}#{int(c.attempt)}"), tx=tx)
            if c.completed_at is not None and ground != "deadline":
                timers.cancel(timers.timer_id_for(DEADLINE_TIMER, c.case_id), tx=tx)
            count(tx, refunds=1, **{f"refunds_{ground}": 1})
            emit(tx, "opinion.refunded", payload(c, ground=ground, order_id=c.order_id, previous=c.status,
                                                    holder_id=c.holder_id))
    except TransactWriteError:
        return False
    logger.info("case refunded", extra={"case_id": c.case_id, "ground": ground})
    return True


def _pay_back(order_id: str, case_id: str, reason: str) -> None:
    try:
        payments.refund(order_id=order_id, amount_fen=None, reason=reason, request_key=_refund_key(case_id))
    except Unprocessable:
        logger.info("nothing left to refund", extra={"case_id": case_id})


@consumer("opinion.refunded")
def _on_refunded(event_id: str, p: dict) -> None:
    _pay_back(p["order_id"], p["case_id"], "二次诊疗退款")


@consumer(f"timer.{DEADLINE_TIMER}")
def _on_deadline(event_id: str, p: dict) -> None:
    c = get_case(p["case_id"])
    if c.status in ("matching", "assigned", "accepted"):
        refund_case(c, "deadline", "承诺时限内未出具报告，全额退款")


def operator_refund(caller, case_id: str, ground: str, reason: str):
    if ground == "disagreement":
        raise Unprocessable("disagreeing with the opinion is not a ground for a refund", code="not_a_refund_ground")
    c = get_case(case_id)
    if c.status == "reported":
        raise Conflict("the report is published and the expert paid; no refund", code="report_published")
    if c.status not in OPEN:
        raise Conflict(f"the case is {c.status}", code="invalid_state")
    if not refund_case(c, "operator", f"{ground}: {reason}"):
        raise Conflict("the case changed meanwhile", code="invalid_state")
    return case_out(get_case(case_id))


# --- the expert's share ----------------------------------------------------------------------

@consumer("opinion.report_published")
def _credit_expert(event_id: str, p: dict) -> None:
    """The order was paid without a doctor (the expert was not settled yet), so payments booked
    it all to the platform; now the expert's share moves to their earnings, once per order."""
    c = get_case(p["case_id"])
    payments.credit_deferred_share(order_id=c.order_id, doctor_id=c.expert_id)


# --- statistics ------------------------------------------------------------------------------

def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def stats(caller) -> Stats:
    try:
        s = Counter.get(COUNTER, consistent_read=True)
    except Counter.DoesNotExist:
        s = Counter(COUNTER)
    paid, reports = int(s.paid or 0), int(s.reports or 0)
    refunds = int(s.refunds or 0)
    return Stats(paid=paid, reports=reports, confirmed_share=_share(int(s.confirmed or 0), reports),
                 refined_share=_share(int(s.refined or 0), reports),
                 different_share=_share(int(s.different or 0), reports),
                 avg_turnaround_hours=round(int(s.turnaround_s or 0) / reports / 3600, 2) if reports else None,
                 refunds=refunds, refund_rate=_share(refunds, paid),
                 refunds_by_ground={g: int(getattr(s, f"refunds_{g}") or 0) for g in GROUNDS},
                 outcomes=int(s.outcomes or 0), followed_share=_share(int(s.outcomes_followed or 0),
                                                                      int(s.outcomes or 0)))
