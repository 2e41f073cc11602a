"""Conversations follow bindings; reading them: the inbox, messages, read markers, hiding."""

from __future__ import annotations

from pynamodb.exceptions import TransactWriteError, UpdateError

from chalicelib.bindings import service as bindings
from chalicelib.core import clock
from chalicelib.core.errors import NotFound
from chalicelib.core.observability import logger
from chalicelib.core.outbox import consumer, transaction
from chalicelib.core.pagination import Page, parse_limit, query_page

from .models import Conversation, Message
from .schemas import ReadMarker
from .views import activity_key, conversation_out, message_out, new_message, side


@consumer("binding.activated")
def _on_binding_activated(event_id: str, payload: dict) -> None:
    """Create the conversation (idempotent: its id is the binding's) with a welcome card."""
    b = bindings.get_binding(payload["binding_id"])
    now = clock.now()
    try:
        Conversation.get(b.binding_id)
        _set_status(b.binding_id, "active")
        return
    except Conversation.DoesNotExist:
        pass
    conv = Conversation(b.binding_id, doctor_id=b.doctor_id, patient_account_id=b.patient_account_id,
                        profile_id=b.profile_id, patient_name=b.patient_name, status="active", seq=1,
                        activity_key=activity_key(now, b.binding_id), last_preview="[已建立随诊关系]", last_at=now,
                        free_until=b.free_until, free_messages=int(b.free_messages), free_used=0, created_at=now)
    card = new_message(conv, 1, "card", "system", None, card={"type": "binding_activated",
                                                                "free_until": clock.iso(b.free_until),
                                                                "free_messages": int(b.free_messages)})
    try:
        with transaction() as tx:
            tx.save(conv, condition=Conversation.conversation_id.does_not_exist())
            tx.save(card, condition=Message.seq.does_not_exist())
    except TransactWriteError:
        logger.info("conversation created by an earlier delivery", extra={"conversation_id": b.binding_id})


@consumer("binding.ended", "binding.blocked", "binding.unblocked")
def _on_binding_changed(event_id: str, payload: dict) -> None:
    """Follow the binding's current state (events may arrive out of order)."""
    b = bindings.get_binding(payload["binding_id"])
    _set_status(b.binding_id, "active" if b.status == "active" else "inactive")


def _set_status(conversation_id: str, status: str) -> None:
    try:
        Conversation(conversation_id).update(actions=[Conversation.status.set(status)],
                                             condition=Conversation.conversation_id.exists())
    except UpdateError:  # no conversation yet: nothing to do
        pass


def get_conversation(caller, conversation_id: str, consistent: bool = False) -> Conversation:
    try:
        conv = Conversation.get(conversation_id, consistent_read=consistent)
    except Conversation.DoesNotExist:
        raise NotFound("conversation not found")
    side(caller, conv)
    return conv


def list_conversations(caller, limit: int | None, cursor: str | None) -> Page:
    """One Query on the caller's inbox index, latest activity first."""
    index = Conversation.doctor_inbox if caller.role == "doctor" else Conversation.patient_inbox
    page = query_page(Conversation, index.query, caller.account_id, scan_index_forward=False,
                      limit=parse_limit(str(limit) if limit else None), cursor=cursor)
    return Page(_with_doctors(caller, [conversation_out(caller, c) for c in page.items]), page.next_cursor)


def conversation_detail(caller, conversation_id: str):
    """One conversation as its inbox row shows it (the same fields, the doctor's card included)."""
    return _with_doctors(caller, [conversation_out(caller, get_conversation(caller, conversation_id))])[0]


def _with_doctors(caller, rows: list) -> list:
    """The patient's rows show the doctor (one BatchGetItem per page); the doctor's show patient_name."""
    if caller.role == "doctor":
        return rows
    from chalicelib.doctors import service as doctors

    cards = doctors.briefs(r.doctor_id for r in rows)
    return [r.model_copy(update={"doctor": cards.get(r.doctor_id)}) for r in rows]


def list_messages(caller, conversation_id: str, limit: int | None, cursor: str | None, after: int | None,
                  request_id: str) -> Page:
    """One Query. The participants are on every message, so the filter both authorises the page
    and hides what the patient deleted from their view. A first page that is empty means the
    conversation is not the caller's (every conversation starts with a card): 404."""
    me = caller.account_id
    filt = (Message.doctor_id == me) | (Message.patient_account_id == me)
    if caller.role != "doctor":
        filt = filt & (Message.hidden_for_patient == False)  # noqa: E712
    lim = parse_limit(str(limit) if limit else None)
    if after is not None:
        page = query_page(Message, Message.query, conversation_id, Message.seq > after, filter_condition=filt,
                          limit=lim, cursor=cursor)
    else:
        page = query_page(Message, Message.query, conversation_id, scan_index_forward=False, filter_condition=filt,
                          limit=lim, cursor=cursor)
        if not page.items and not cursor and not page.next_cursor:
            raise NotFound("conversation not found")
    # Audit without a second call on the hot path: a structured audit line, shipped from logs.
    logger.info("audit", extra={"audit": {"actor_id": me, "actor_role": caller.role, "action": "read",
                                          "object_type": "conversation", "object_id": conversation_id,
                                          "messages": len(page.items), "request_id": request_id}})
    return Page([message_out(m) for m in page.items], page.next_cursor)


def mark_read(caller, conversation_id: str) -> ReadMarker:
    """Move the caller's read marker to the latest message they could have seen; never backwards.

    Nothing to move: the consistent read answers (1 call). Otherwise the conditional update
    returns the item as it left it (2 calls); only when a concurrent read moved the marker past
    ours is the item read again."""
    conv = get_conversation(caller, conversation_id, consistent=True)
    me = side(caller, conv)
    attr = Conversation.doctor_read_seq if me == "doctor" else Conversation.patient_read_seq
    seq = int(conv.seq)
    fresh = conv
    if int(getattr(conv, attr.attr_name)) < seq:
        marker = Conversation(conversation_id)
        try:
            marker.update(actions=[attr.set(seq)], condition=attr < seq)  # the item as written (ALL_NEW)
            fresh = marker
        except UpdateError:  # a concurrent read moved it further
            fresh = Conversation.get(conversation_id, consistent_read=True)
    read = int(getattr(fresh, attr.attr_name))
    return ReadMarker(conversation_id=conversation_id, read_seq=read, unread=max(int(fresh.seq) - read, 0))


def hide_message(caller, conversation_id: str, seq: int) -> dict:
    """The patient deletes a message from their own view; the record itself is kept."""
    conv = get_conversation(caller, conversation_id)
    if side(caller, conv) != "patient":
        raise NotFound("message not found")
    try:
        Message(conversation_id, seq).update(actions=[Message.hidden_for_patient.set(True)],
                                             condition=Message.seq.exists())
    except UpdateError:
        raise NotFound("message not found")
    return {"ok": True}
