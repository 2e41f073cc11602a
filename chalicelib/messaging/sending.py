"""Sending: who may write when (free window, paid consultation, away mode), and the one
transaction that numbers a message and moves the conversation's counters.

Used by other domains: ``post_card(conversation_id, card_type, data)``.

Numbering under bursts. A message's ``seq`` is taken by the same ``TransactWriteItems`` that
writes the message, moves the conversation's counters (entitlement, unread, preview) and emits
the event, conditional on the ``seq`` that was read. A concurrent sender makes that condition
fail; the sender then re-reads and tries again, after a full-jitter pause, for up to
``SEND_DEADLINE_S`` seconds (and ``SEND_ATTEMPTS`` times). We chose this over reserving a
number first (``UpdateItem ADD``, then the put) because the single transaction can never leave
a hole: a number exists only with its message, its entitlement count and its event, so unread
counts (``seq - read_seq``) stay exact even when a function dies mid-request, and no repair job
is needed. Its cost is retries under
contention — a burst of k concurrent sends needs about k rounds for the last one — which is
small for the bursts people make (a handful of photos, an app flushing its queue); the bound is
set well above them (20 concurrent sends all land, ``tests/e2e``). Messages are numbered in the
order their transactions commit.
"""

from __future__ import annotations

import random
import time

from pynamodb.exceptions import TransactWriteError

from chalicelib.core import clock
from chalicelib.core.errors import Conflict, NotFound, Unprocessable
from chalicelib.core.outbox import emit, transaction

from .attachments import check_attachments
from .models import Consultation, Conversation, Message, Package
from .schemas import MessageOut
from .views import activity_key, message_out, new_message, preview, side

SEND_ATTEMPTS = 200
SEND_DEADLINE_S = 12.0  # well inside API Gateway's 29 s; a burst of 20 needs a fraction of it
BACKOFF_BASE_S = 0.005
BACKOFF_CAP_S = 0.2


def backoff(attempt: int, started: float | None = None) -> None:
    """Full jitter: a random pause up to min(cap, base * 2^attempt), so contenders spread out.
    Past ``SEND_DEADLINE_S`` since ``started`` the caller is answered 409 ``retry`` instead."""
    if started is not None and time.monotonic() - started > SEND_DEADLINE_S:
        raise Conflict("the conversation is busy, please retry", code="retry")
    time.sleep(random.uniform(0, min(BACKOFF_CAP_S, BACKOFF_BASE_S * (2 ** min(attempt, 10)))))


def _entitlement(conv: Conversation, me: str, away: bool) -> tuple[list, bool]:
    """(conversation update actions, counts against the consultation) or 422 with an actionable code."""
    now = clock.now()
    if conv.status != "active":
        raise Unprocessable("this follow-up relationship is not active", code="binding_inactive")
    if me == "doctor":
        return ([Conversation.consult_answered.set(True)] if conv.consultation_id and not conv.consult_answered
                else []), False
    if conv.free_until > now and int(conv.free_used) < int(conv.free_messages):
        return [Conversation.free_used.add(1)], False
    if conv.consultation_id and conv.consult_ends_at and conv.consult_ends_at > now \
            and int(conv.consult_messages_left) > 0:
        return [Conversation.consult_messages_left.add(-1)], True
    if away:
        raise Unprocessable("the doctor is away", code="doctor_away")
    code = "free_window_over" if not conv.consultation_id else "consultation_required"
    raise Unprocessable("the free follow-up is used up; buy a consultation to continue", code=code)


def send(caller, conversation_id: str, kind: str, text: str | None, attachment_ids: list[str]) -> MessageOut:
    """Entitlement read (conversation + the doctor's package in one BatchGetItem), then one
    TransactWriteItems: message, conversation counters (conditional on seq), outbox event.
    A concurrent sender makes the seq condition fail: re-read and retry (module docstring)."""
    package_read = None
    started = time.monotonic()
    for attempt in range(SEND_ATTEMPTS):
        if attempt:
            backoff(attempt, started)
        conv, package = _read_for_send(caller, conversation_id, package_read)
        package_read = (package,)
        me = side(caller, conv)
        actions, in_consult = _entitlement(conv, me, bool(package and package.away))
        if attachment_ids:
            check_attachments(conv, attachment_ids)
        seq = int(conv.seq) + 1
        consult = conv.consultation_id if (in_consult or me == "doctor") else None
        msgs = [new_message(conv, seq, kind, me, caller.account_id, text=text, attachment_ids=attachment_ids,
                            consultation_id=consult)]
        if me == "patient" and package is not None and package.away:
            reply = package.away_message or "医生暂时不在，回来后会尽快回复。"
            msgs.append(new_message(conv, seq + 1, "card", "system", None,
                                    card={"type": "away_auto_reply", "text": reply}))
        try:
            _commit_messages(conv, msgs, actions, me, consult_answer=me == "doctor" and conv.consultation_id
                             and not conv.consult_answered)
        except TransactWriteError:
            continue
        return message_out(msgs[0])
    raise Conflict("the conversation is busy, please retry", code="retry")


def _read_for_send(caller, conversation_id: str, package_read: tuple | None):
    """The conversation (consistent) and, for the patient, the doctor's package; a retry reuses
    the package it read (away mode is not a counter a concurrent send changes)."""
    try:
        conv = Conversation.get(conversation_id, consistent_read=True)
    except Conversation.DoesNotExist:
        raise NotFound("conversation not found")
    side(caller, conv)
    if package_read is not None:
        return conv, package_read[0]
    items = list(Package.batch_get([conv.doctor_id])) if caller.account_id != conv.doctor_id else []
    package = items[0] if items else None
    return conv, package


def _commit_messages(conv: Conversation, msgs: list[Message], actions: list, me: str, consult_answer=False) -> None:
    last = msgs[-1]
    now = clock.now()
    read_attr = Conversation.doctor_read_seq if me == "doctor" else Conversation.patient_read_seq
    update = [Conversation.seq.set(int(last.seq)), Conversation.last_at.set(now),
              Conversation.activity_key.set(activity_key(now, conv.conversation_id)),
              Conversation.last_preview.set(preview(msgs[0].kind, msgs[0].text)), *actions]
    if me in ("doctor", "patient"):
        update.append(read_attr.set(int(msgs[0].seq)))  # the sender has read up to their own message
    with transaction() as tx:
        for m in msgs:
            tx.save(m, condition=Message.seq.does_not_exist())
        tx.update(Conversation(conv.conversation_id), actions=update, condition=Conversation.seq == int(conv.seq))
        if consult_answer:
            tx.update(Consultation(conv.consultation_id), actions=[Consultation.answered_at.set(now)],
                      condition=Consultation.status == "open")
        emit(tx, "message.created", {"conversation_id": conv.conversation_id, "seq": int(msgs[0].seq),
                                     "message_id": msgs[0].message_id, "sender_role": me,
                                     "doctor_id": conv.doctor_id, "patient_account_id": conv.patient_account_id})


def post_card(conversation_id: str, card_type: str, data: dict) -> MessageOut | None:
    """A structured card from another domain (booking offer, questionnaire, payment request,
    system notice). Not subject to the patient's entitlement. Returns None if no conversation."""
    started = time.monotonic()
    for attempt in range(SEND_ATTEMPTS):
        if attempt:
            backoff(attempt, started)
        try:
            conv = Conversation.get(conversation_id, consistent_read=True)
        except Conversation.DoesNotExist:
            return None
        m = new_message(conv, int(conv.seq) + 1, "card", "system", None, card={"type": card_type, **data},
                        consultation_id=conv.consultation_id)
        try:
            _commit_messages(conv, [m], [], "system")
        except TransactWriteError:
            continue
        return message_out(m)
    raise Conflict("the conversation is busy, please retry", code="retry")
