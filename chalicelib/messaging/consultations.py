"""Paid consultations (图文问诊): the doctor's package and away mode, buying one, opening it when
paid, the reply deadline (refunded in full if missed; the doctor is reminded ``NUDGE_BEFORE``
earlier) and the end of the consultation."""

from __future__ import annotations

from datetime import timedelta

from pynamodb.exceptions import TransactWriteError
from pynamodb.expressions.update import Action

from chalicelib import calls
from chalicelib.core import clock, timers
from chalicelib.core.errors import Conflict, NotFound, Unprocessable
from chalicelib.core.ids import new_id
from chalicelib.core.outbox import consumer, emit, publish, transaction

from .conversations import get_conversation
from .models import Consultation, Conversation, Package
from .schemas import ConsultationOut, PackageOut
from .sending import post_card
from .views import side

payments = calls.client("payments")  # synchronous, to payments' function (chalicelib/calls.py)

NUDGE_BEFORE = timedelta(hours=2)


def get_package(doctor_id: str) -> Package:
    try:
        return Package.get(doctor_id)
    except Package.DoesNotExist:
        return Package(doctor_id)


def package_out(p: Package) -> PackageOut:
    return PackageOut(enabled=bool(p.enabled), price_fen=int(p.price_fen), hours=int(p.hours),
                      messages=int(p.messages), reply_deadline_hours=int(p.reply_deadline_hours), away=bool(p.away),
                      away_message=p.away_message)


def set_package(caller, body) -> PackageOut:
    Package(caller.account_id).update(actions=[Package.enabled.set(body.enabled), Package.price_fen.set(body.price_fen),
                                               Package.hours.set(body.hours), Package.messages.set(body.messages),
                                               Package.reply_deadline_hours.set(body.reply_deadline_hours)])
    return package_out(get_package(caller.account_id))


def set_away(caller, away: bool, message: str | None) -> PackageOut:
    actions: list[Action] = [Package.away.set(away)]
    actions.append(Package.away_message.set(message) if message else Package.away_message.remove())
    Package(caller.account_id).update(actions=actions)
    return package_out(get_package(caller.account_id))


def consultation_out(c: Consultation) -> ConsultationOut:
    return ConsultationOut(consultation_id=c.consultation_id, conversation_id=c.conversation_id, status=c.status,
                           price_fen=int(c.price_fen), order_id=c.order_id, opened_at=clock.iso(c.opened_at),
                           deadline_at=clock.iso(c.deadline_at), ends_at=clock.iso(c.ends_at),
                           answered_at=clock.iso(c.answered_at))


def get_consultation(caller, consultation_id: str) -> ConsultationOut:
    """A participant's view of one consultation (what a client polls after paying for it)."""
    c = _consultation(consultation_id)
    if c is None or caller.account_id not in (c.patient_account_id, c.doctor_id):
        raise NotFound("consultation not found")
    return consultation_out(c)


def buy_consultation(caller, conversation_id: str) -> ConsultationOut:
    conv = get_conversation(caller, conversation_id, consistent=True)
    if side(caller, conv) != "patient":
        raise NotFound("conversation not found")
    if conv.status != "active":
        raise Unprocessable("this follow-up relationship is not active", code="binding_inactive")
    p = get_package(conv.doctor_id)
    if p.away:
        raise Unprocessable("the doctor is away and takes no new consultations", code="doctor_away")
    if not p.enabled or int(p.price_fen) <= 0:
        raise Unprocessable("the doctor does not offer paid consultations", code="consultation_unavailable")
    if conv.consultation_id and conv.consult_ends_at and conv.consult_ends_at > clock.now():
        raise Conflict("a consultation is already open", code="consultation_open")
    c = Consultation(new_id(), conversation_id=conv.conversation_id, doctor_id=conv.doctor_id,
                     patient_account_id=conv.patient_account_id, status="awaiting_payment", price_fen=int(p.price_fen),
                     hours=int(p.hours), messages=int(p.messages), reply_deadline_hours=int(p.reply_deadline_hours),
                     created_at=clock.now())
    c.save()
    order = payments.create_order(payer_account_id=caller.account_id, product_type="consultation",
                                  product_id=c.consultation_id, amount_fen=int(p.price_fen), doctor_id=conv.doctor_id,
                                  description=f"图文问诊 {int(p.hours)}小时/{int(p.messages)}条")
    c.update(actions=[Consultation.order_id.set(order["order_id"])])
    return consultation_out(c)


def _consultation(consultation_id: str) -> Consultation | None:
    try:
        return Consultation.get(consultation_id, consistent_read=True)
    except Consultation.DoesNotExist:
        return None


@consumer("order.paid")
def _on_order_paid(event_id: str, payload: dict) -> None:
    if payload.get("product_type") != "consultation" or payload.get("late"):
        return
    c = _consultation(payload["product_id"])
    if c is not None and c.status == "open":
        _opened_card(c)  # opened by an earlier delivery of this payment, which may have stopped before its card
        return
    if c is None or c.status != "awaiting_payment":
        return
    conv = Conversation.get(c.conversation_id, consistent_read=True)
    if conv.status != "active" or (conv.consultation_id and conv.consult_ends_at and conv.consult_ends_at > clock.now()):
        payments.refund(order_id=payload["order_id"], amount_fen=None, reason="会话不可用，自动退款",
                        request_key="consultation-unavailable")
        c.update(actions=[Consultation.status.set("cancelled")], condition=Consultation.status == "awaiting_payment")
        return
    now = clock.now()
    deadline = now + timedelta(hours=int(c.reply_deadline_hours))
    ends = now + timedelta(hours=int(c.hours))
    try:
        with transaction() as tx:
            tx.update(c, actions=[Consultation.status.set("open"), Consultation.opened_at.set(now),
                                  Consultation.deadline_at.set(deadline), Consultation.ends_at.set(ends)],
                      condition=Consultation.status == "awaiting_payment")
            tx.update(Conversation(conv.conversation_id), actions=[
                Conversation.consultation_id.set(c.consultation_id), Conversation.consult_ends_at.set(ends),
                Conversation.consult_messages_left.set(int(c.messages)), Conversation.consult_answered.set(False)])
            timers.schedule("consultation-deadline", deadline, {"consultation_id": c.consultation_id},
                            key=c.consultation_id, tx=tx)
            if deadline - NUDGE_BEFORE > now:
                timers.schedule("consultation-nudge", deadline - NUDGE_BEFORE, {"consultation_id": c.consultation_id},
                                key=c.consultation_id, tx=tx)
            timers.schedule("consultation-end", ends, {"consultation_id": c.consultation_id}, key=c.consultation_id,
                            tx=tx)
            emit(tx, "consultation.opened", {"consultation_id": c.consultation_id,
                                             "conversation_id": c.conversation_id,
                                             "patient_account_id": c.patient_account_id, "doctor_id": c.doctor_id,
                                             "deadline_at": deadline.isoformat()})
    except TransactWriteError:
        return
    c.ends_at = ends
    _opened_card(c)


def _opened_card(c: Consultation) -> None:
    post_card(c.conversation_id, "consultation_opened",
              {"consultation_id": c.consultation_id, "ends_at": clock.iso(c.ends_at), "messages": int(c.messages)},
              once_key=f"card#consultation_opened#{c.consultation_id}")


@consumer("order.closed")
def _on_order_closed(event_id: str, payload: dict) -> None:
    if payload.get("product_type") != "consultation":
        return
    c = _consultation(payload["product_id"])
    if c is not None and c.status == "awaiting_payment":
        c.update(actions=[Consultation.status.set("cancelled")], condition=Consultation.status == "awaiting_payment")


def _finish(c: Consultation, status: str, event: str, card: str) -> None:
    now = clock.now()
    try:
        with transaction() as tx:
            tx.update(c, actions=[Consultation.status.set(status), Consultation.closed_at.set(now)],
                      condition=Consultation.status == "open")
            tx.update(Conversation(c.conversation_id),
                      actions=[Conversation.consultation_id.remove(), Conversation.consult_ends_at.remove(),
                               Conversation.consult_messages_left.set(0)],
                      condition=Conversation.consultation_id == c.consultation_id)
            other = "consultation-end" if status == "refunded" else "consultation-deadline"
            timers.cancel(timers.timer_id_for(other, c.consultation_id), tx=tx)
            emit(tx, event, {"consultation_id": c.consultation_id, "conversation_id": c.conversation_id,
                             "patient_account_id": c.patient_account_id, "doctor_id": c.doctor_id,
                             "opened_at": clock.iso(c.opened_at), "answered_at": clock.iso(c.answered_at),
                             "closed_at": clock.iso(now)})
    except TransactWriteError:
        current = _consultation(c.consultation_id)
        if current is None or current.status != status:
            return  # finished otherwise (answered and closed, or refunded) by another path
        # finished by an earlier delivery, which may have stopped before its card
    post_card(c.conversation_id, card, {"consultation_id": c.consultation_id},
              once_key=f"card#{card}#{c.consultation_id}")


@consumer("timer.consultation-deadline")
def _on_deadline(event_id: str, payload: dict) -> None:
    """Unanswered by the deadline: refunded in full and closed; the patient is told."""
    c = _consultation(payload["consultation_id"])
    if c is None or c.status not in ("open", "refunded") or c.answered_at is not None:
        return
    if c.status == "open":
        payments.refund(order_id=c.order_id, amount_fen=None, reason="医生未在时限内回复，全额退款",
                        request_key="reply-deadline")
    _finish(c, "refunded", "consultation.refunded", "consultation_refunded")  # refunded already: only the card


def consultation_state(consultation_id: str) -> Consultation | None:
    """For other domains (notifications' stale check): the consultation as stored, or None."""
    return _consultation(consultation_id)


@consumer("timer.consultation-nudge")
def _on_nudge(event_id: str, payload: dict) -> None:
    """Still unanswered two hours before the deadline: the doctor is reminded (once per firing)."""
    c = _consultation(payload["consultation_id"])
    if c is None or c.status != "open" or c.answered_at is not None or c.deadline_at is None:
        return
    publish("consultation.reply_due", {"consultation_id": c.consultation_id, "conversation_id": c.conversation_id,
                                       "patient_account_id": c.patient_account_id, "doctor_id": c.doctor_id,
                                       "deadline_at": c.deadline_at.isoformat()}, caused_by=event_id)


@consumer("timer.consultation-end")
def _on_end(event_id: str, payload: dict) -> None:
    c = _consultation(payload["consultation_id"])
    if c is None or c.status not in ("open", "closed"):
        return
    if c.answered_at is None:
        _on_deadline(event_id, payload)
        return
    _finish(c, "closed", "consultation.closed", "consultation_closed")  # closed already: only the card
