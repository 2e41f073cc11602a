"""Money for surgery referrals, all through the payments domain: the platform's service fee is
paid by the patient (an order with no doctor, so the ledger books every fen to the platform — a
referring doctor is never paid for a referral, 九项准则), and refunded in full at most once per
case (one refund request key per case, whatever triggers it).

Refund rules: a cancellation before the date is confirmed is refunded, whoever cancels; after
confirmation only a cancellation the patient did not cause (the surgeon, the host, the platform)
is refunded. A patient's own cancellation after confirmation keeps the fee.
"""

from __future__ import annotations

from pynamodb.exceptions import TransactWriteError, UpdateError
from pynamodb.expressions.update import Action

from chalicelib import calls
from chalicelib.core import clock
from chalicelib.core.errors import Conflict, NotFound, Unprocessable
from chalicelib.core.observability import logger
from chalicelib.core.outbox import consumer, emit, transaction

from .common import BEFORE_CONFIRMATION, PAID_OPEN, full_out, get_case, need, payload, visible_case
from .intake import PRODUCT
from .models import Case, Surgeon

payments = calls.client("payments")  # synchronous, to payments' function (chalicelib/calls.py)

HOLDING = ("proposed", "accepted", "confirmed")


def _refund_key(case_id: str) -> str:
    return f"referral:{case_id}"


# --- payment ---------------------------------------------------------------------------------

@consumer("order.paid")
def _on_paid(event_id: str, p: dict) -> None:
    if p.get("product_type") != PRODUCT or p.get("late"):
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
                emit(tx, "referral.submitted", payload(c, order_id=p["order_id"]))
            return
        except TransactWriteError:
            c = get_case(p["product_id"])
    if c.order_id == p["order_id"] and c.status != "cancelled":
        return  # a duplicate delivery
    _pay_back(p["order_id"], c.case_id, "转诊已取消，全额退款")  # cancelled while the patient was paying


@consumer("order.closed")
def _on_closed(event_id: str, p: dict) -> None:
    if p.get("product_type") != PRODUCT:
        return
    try:
        c = get_case(p["product_id"])
    except NotFound:
        return
    if c.status == "awaiting_payment":
        try:
            c.update(actions=[Case.status.set("cancelled"), Case.cancel_cause.set("unpaid"),
                              Case.ended_at.set(clock.now())], condition=Case.status == "awaiting_payment")
        except UpdateError:  # paid meanwhile
            pass


# --- cancellation ----------------------------------------------------------------------------

def refundable(c: Case, cause: str) -> bool:
    if c.status not in PAID_OPEN:
        return False  # nothing paid (or already ended)
    return cause != "patient" or c.status in BEFORE_CONFIRMATION


def cancel(c: Case, cause: str, reason: str) -> Case:
    """End the case; release the surgeon; the ``referral.cancelled`` consumer refunds or closes
    the order. Every party with an account is notified."""
    need(c, *BEFORE_CONFIRMATION, "confirmed")
    refund = refundable(c, cause)
    actions: list[Action] = [Case.status.set("cancelled"), Case.queue.remove(), Case.surgeon_id.remove(),
               Case.cancel_cause.set(cause), Case.cancel_reason.set(reason), Case.refunded.set(refund),
               Case.ended_at.set(clock.now())]
    try:
        with transaction() as tx:
            tx.update(c, actions=actions, condition=Case.status == c.status)
            if c.surgeon_id and c.status in HOLDING:
                tx.update(Surgeon(c.surgeon_id), actions=[Surgeon.open_cases.add(-1)])
            emit(tx, "referral.cancelled", payload(c, cause=cause, refund=refund, order_id=c.order_id,
                                                  previous=c.status))
    except TransactWriteError:
        raise Conflict("the case changed meanwhile", code="invalid_state")
    logger.info("referral cancelled", extra={"case_id": c.case_id, "cause": cause, "refund": refund})
    return get_case(c.case_id)


def patient_cancel(caller, case_id: str, reason: str | None):
    c, _ = visible_case(caller, case_id, allow=("patient",))
    return full_out(cancel(c, "patient", reason or "患者取消"))


def operator_cancel(caller, case_id: str, cause: str, reason: str):
    return full_out(cancel(get_case(case_id), cause, reason))


def _pay_back(order_id: str, case_id: str, reason: str) -> None:
    try:
        payments.refund(order_id=order_id, amount_fen=None, reason=reason, request_key=_refund_key(case_id))
    except Unprocessable:
        logger.info("nothing left to refund", extra={"case_id": case_id})


@consumer("referral.cancelled")
def _settle(event_id: str, p: dict) -> None:
    if not p.get("order_id"):
        return
    if p.get("previous") == "awaiting_payment":
        try:
            payments.close_order(order_id=p["order_id"], reason="referral cancelled")
        except Conflict:
            pass  # paid meanwhile: ``order.paid`` finds the case cancelled and refunds it
        return
    if p.get("refund"):
        _pay_back(p["order_id"], p["case_id"], "名医主刀服务费退款")
