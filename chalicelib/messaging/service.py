"""Messaging rules (随诊): who may write when, paid consultations with reply deadlines,
read markers, attachments, and cards other domains post.

Used by other domains: ``post_card(conversation_id, card_type, data)``.
"""

from datetime import datetime, timedelta

from pynamodb.exceptions import TransactWriteError, UpdateError

from chalicelib.bindings import service as bindings
from chalicelib.core import clock, timers
from chalicelib.core.aws import client
from chalicelib.core.config import get_settings
from chalicelib.core.errors import Conflict, NotFound, Unprocessable
from chalicelib.core.ids import new_id
from chalicelib.core.observability import logger
from chalicelib.core.outbox import consumer, emit, transaction
from chalicelib.core.pagination import Page, parse_limit, query_page
from chalicelib.payments import service as payments

from .models import Attachment, Consultation, Conversation, Message, Package
from .schemas import AttachmentLink, AttachmentUpload, ConsultationOut, ConversationOut, MessageOut, PackageOut, ReadMarker

CHAT_RETENTION = timedelta(days=3 * 366)
CONSULT_RETENTION = timedelta(days=15 * 366)
GROUP_MAX = 200
SEND_RETRIES = 5
UPLOAD_TTL_S = 600
DOWNLOAD_TTL_S = 300


def _activity_key(at) -> str:
    return f"{timers.due_key(at)}"


# --- conversations follow bindings -----------------------------------------------------------

@consumer("binding.activated")
def _on_binding_activated(event_id: str, payload: dict) -> None:
    """Create the conversation (idempotent: its id is the binding's) with a welcome card."""
    b = bindings.get_binding_for_participant(_System, payload["binding_id"])
    now = clock.now()
    try:
        Conversation.get(b.binding_id)
        _set_status(b.binding_id, "active")
        return
    except Conversation.DoesNotExist:
        pass
    conv = Conversation(b.binding_id, doctor_id=b.doctor_id, patient_account_id=b.patient_account_id,
                        profile_id=b.profile_id, patient_name=b.patient_name, status="active", seq=1,
                        activity_key=f"{_activity_key(now)}#{b.binding_id}", last_preview="[已建立随诊关系]", last_at=now,
                        free_until=b.free_until, free_messages=int(b.free_messages), free_used=0, created_at=now)
    card = _message(conv, 1, "card", "system", None, card={"type": "binding_activated",
                                                             "free_until": clock.iso(b.free_until),
                                                             "free_messages": int(b.free_messages)})
    try:
        with transaction() as tx:
            tx.save(conv, condition=Conversation.conversation_id.does_not_exist())
            tx.save(card, condition=Message.seq.does_not_exist())
    except TransactWriteError:
        pass  # created by an earlier delivery


@consumer("binding.ended", "binding.blocked", "binding.unblocked")
def _on_binding_changed(event_id: str, payload: dict) -> None:
    """Follow the binding's current state (events may arrive out of order)."""
    b = bindings.get_binding_for_participant(_System, payload["binding_id"])
    _set_status(b.binding_id, "active" if b.status == "active" else "inactive")


class _System:
    """The caller identity of event consumers."""

    account_id = "system"
    role = "admin"
    is_admin = True


def _set_status(conversation_id: str, status: str) -> None:
    try:
        Conversation(conversation_id).update(actions=[Conversation.status.set(status)],
                                             condition=Conversation.conversation_id.exists())
    except UpdateError:  # no conversation yet: nothing to do
        pass


# --- shapes ----------------------------------------------------------------------------------

def _message(conv: Conversation, seq: int, kind: str, role: str, sender: str | None, *, text=None,
             attachment_ids=None, card=None, consultation_id=None) -> Message:
    now = clock.now()
    return Message(conv.conversation_id, seq, message_id=new_id(), kind=kind, sender_role=role, sender_id=sender,
                   doctor_id=conv.doctor_id, patient_account_id=conv.patient_account_id, text=text,
                   attachment_ids=attachment_ids or None, card=card, consultation_id=consultation_id, created_at=now,
                   retain_until=now + (CONSULT_RETENTION if consultation_id else CHAT_RETENTION))


def message_out(m: Message) -> MessageOut:
    return MessageOut(message_id=m.message_id, seq=int(m.seq), kind=m.kind, sender_role=m.sender_role,
                      sender_id=m.sender_id, text=m.text, attachment_ids=list(m.attachment_ids) if m.attachment_ids else None,
                      card=m.card, consultation_id=m.consultation_id, created_at=clock.iso(m.created_at))


def _side(caller, conv: Conversation) -> str:
    if caller.account_id == conv.doctor_id:
        return "doctor"
    if caller.account_id == conv.patient_account_id:
        return "patient"
    raise NotFound("conversation not found")


def conversation_out(caller, conv: Conversation) -> ConversationOut:
    side = _side(caller, conv)
    read = int(conv.doctor_read_seq if side == "doctor" else conv.patient_read_seq)
    consult_open = conv.consultation_id and conv.consult_ends_at and conv.consult_ends_at > clock.now()
    return ConversationOut(
        conversation_id=conv.conversation_id, doctor_id=conv.doctor_id, patient_account_id=conv.patient_account_id,
        profile_id=conv.profile_id, patient_name=conv.patient_name, status=conv.status, last_preview=conv.last_preview,
        last_at=clock.iso(conv.last_at), unread=max(int(conv.seq) - read, 0), seq=int(conv.seq),
        free_until=clock.iso(conv.free_until),
        free_messages_left=max(int(conv.free_messages) - int(conv.free_used), 0) if conv.free_until > clock.now() else 0,
        consultation_id=conv.consultation_id if consult_open else None,
        consult_ends_at=clock.iso(conv.consult_ends_at) if consult_open else None,
        consult_messages_left=int(conv.consult_messages_left or 0) if consult_open else 0)


def get_conversation(caller, conversation_id: str, consistent: bool = False) -> Conversation:
    try:
        conv = Conversation.get(conversation_id, consistent_read=consistent)
    except Conversation.DoesNotExist:
        raise NotFound("conversation not found")
    _side(caller, conv)
    return conv


def list_conversations(caller, limit: int | None, cursor: str | None) -> Page:
    """One Query on the caller's inbox index, latest activity first."""
    index = Conversation.doctor_inbox if caller.role == "doctor" else Conversation.patient_inbox
    page = query_page(Conversation, index.query, caller.account_id, scan_index_forward=False,
                      limit=parse_limit(str(limit) if limit else None), cursor=cursor)
    return Page([conversation_out(caller, c) for c in page.items], page.next_cursor)


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
    """Move the caller's read marker to the latest message they could have seen; never backwards."""
    conv = get_conversation(caller, conversation_id, consistent=True)
    side = _side(caller, conv)
    attr = Conversation.doctor_read_seq if side == "doctor" else Conversation.patient_read_seq
    seq = int(conv.seq)
    try:
        Conversation(conversation_id).update(actions=[attr.set(seq)], condition=attr < seq)
    except UpdateError:
        pass  # already at or past it
    fresh = Conversation.get(conversation_id, consistent_read=True)
    read = int(fresh.doctor_read_seq if side == "doctor" else fresh.patient_read_seq)
    return ReadMarker(conversation_id=conversation_id, read_seq=read, unread=max(int(fresh.seq) - read, 0))


# --- sending ---------------------------------------------------------------------------------

def _preview(kind: str, text: str | None) -> str:
    return {"image": "[图片]", "file": "[文件]", "card": "[卡片]"}.get(kind) or (text or "")[:40]


def _entitlement(conv: Conversation, side: str, away: bool) -> tuple[list, bool]:
    """(conversation update actions, counts against the consultation) or 422 with an actionable code."""
    now = clock.now()
    if conv.status != "active":
        raise Unprocessable("this follow-up relationship is not active", code="binding_inactive")
    if side == "doctor":
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
    A concurrent sender makes the seq condition fail: re-read and retry."""
    for _ in range(SEND_RETRIES):
        conv, package = _read_for_send(caller, conversation_id)
        side = _side(caller, conv)
        actions, in_consult = _entitlement(conv, side, bool(package and package.away))
        if attachment_ids:
            _check_attachments(conv, attachment_ids)
        seq = int(conv.seq) + 1
        consult = conv.consultation_id if (in_consult or side == "doctor") else None
        msgs = [_message(conv, seq, kind, side, caller.account_id, text=text, attachment_ids=attachment_ids,
                         consultation_id=consult)]
        if side == "patient" and package is not None and package.away:
            reply = package.away_message or "医生暂时不在，回来后会尽快回复。"
            msgs.append(_message(conv, seq + 1, "card", "system", None, card={"type": "away_auto_reply", "text": reply}))
        try:
            _commit_messages(conv, msgs, actions, side, consult_answer=side == "doctor" and conv.consultation_id
                             and not conv.consult_answered)
        except TransactWriteError:
            continue
        return message_out(msgs[0])
    raise Conflict("the conversation is busy, please retry", code="retry")


def _read_for_send(caller, conversation_id: str):
    try:
        conv = Conversation.get(conversation_id, consistent_read=True)
    except Conversation.DoesNotExist:
        raise NotFound("conversation not found")
    _side(caller, conv)
    items = list(Package.batch_get([conv.doctor_id])) if caller.account_id != conv.doctor_id else []
    package = items[0] if items else None
    return conv, package


def _commit_messages(conv: Conversation, msgs: list[Message], actions: list, side: str, consult_answer=False) -> None:
    last = msgs[-1]
    now = clock.now()
    read_attr = Conversation.doctor_read_seq if side == "doctor" else Conversation.patient_read_seq
    update = [Conversation.seq.set(int(last.seq)), Conversation.last_at.set(now),
              Conversation.activity_key.set(f"{_activity_key(now)}#{conv.conversation_id}"),
              Conversation.last_preview.set(_preview(msgs[0].kind, msgs[0].text)), *actions]
    if side in ("doctor", "patient"):
        update.append(read_attr.set(int(msgs[0].seq)))  # the sender has read up to their own message
    with transaction() as tx:
        for m in msgs:
            tx.save(m, condition=Message.seq.does_not_exist())
        tx.update(Conversation(conv.conversation_id), actions=update, condition=Conversation.seq == int(conv.seq))
        if consult_answer:
            tx.update(Consultation(conv.consultation_id), actions=[Consultation.answered_at.set(now)],
                      condition=Consultation.status == "open")
        emit(tx, "message.created", {"conversation_id": conv.conversation_id, "seq": int(msgs[0].seq),
                                     "message_id": msgs[0].message_id, "sender_role": side,
                                     "doctor_id": conv.doctor_id, "patient_account_id": conv.patient_account_id})


def post_card(conversation_id: str, card_type: str, data: dict) -> MessageOut | None:
    """A structured card from another domain (booking offer, questionnaire, payment request,
    system notice). Not subject to the patient's entitlement. Returns None if no conversation."""
    for _ in range(SEND_RETRIES):
        try:
            conv = Conversation.get(conversation_id, consistent_read=True)
        except Conversation.DoesNotExist:
            return None
        m = _message(conv, int(conv.seq) + 1, "card", "system", None, card={"type": card_type, **data},
                     consultation_id=conv.consultation_id)
        try:
            _commit_messages(conv, [m], [], "system")
        except TransactWriteError:
            continue
        return message_out(m)
    raise Conflict("the conversation is busy, please retry", code="retry")


# --- booking (加号) news as cards in the doctor–patient conversation ----------------------------

_BOOKING_CARD_FIELDS = ("booking_id", "request_id", "session_id", "status", "starts_at", "hold_expires_at",
                        "amount_fen", "hours_before", "reason", "decline_reason")


def _booking_card(event_type: str, card_type: str, *, only_status: str | None = None) -> None:
    """Register a consumer that posts ``card_type`` into the conversation of the binding the
    booking event names (doctor + profile). ``only_status``: post only for that booking status."""

    def on_event(event_id: str, payload: dict) -> None:
        if only_status is not None and payload.get("status") != only_status:
            return
        b = bindings.get_active_binding(payload["doctor_id"], payload["profile_id"])
        if b is not None:
            card = {k: payload[k] for k in _BOOKING_CARD_FIELDS if payload.get(k) is not None}
            for k in ("starts_at", "hold_expires_at"):  # events carry UTC; clients are shown Asia/Shanghai
                if k in card:
                    card[k] = clock.iso(datetime.fromisoformat(card[k]))
            post_card(b.binding_id, card_type, card)

    on_event.__qualname__ = "on_" + event_type.replace(".", "_")  # the dispatcher's per-consumer dedup key
    consumer(event_type)(on_event)


_booking_card("booking.confirmed", "booking_confirmed")
_booking_card("booking.offered", "booking_offered")  # a waitlist seat or an accepted request: pay before it lapses
_booking_card("booking.cancelled", "booking_cancelled")
_booking_card("booking.released", "booking_cancelled", only_status="doctor_cancelled")  # an expiring hold is no news
_booking_card("booking.reminder", "booking_reminder")
_booking_card("booking.request_declined", "booking_request_declined")
_booking_card("booking.request_expired", "booking_request_expired")


# --- follow-up (随访) tasks as cards: what is due, and the one reminder -------------------------

_FOLLOWUP_CARD_FIELDS = ("plan_id", "task_id", "item_id", "kind", "due_at", "window_ends_at")


def _followup_card(event_type: str, card_type: str) -> None:
    """Post ``card_type`` into the conversation of the plan's binding (ids and times only; the
    app opens the task through the follow-up API)."""

    def on_event(event_id: str, payload: dict) -> None:
        card = {k: payload[k] for k in _FOLLOWUP_CARD_FIELDS if payload.get(k) is not None}
        for k in ("due_at", "window_ends_at"):
            if k in card:
                card[k] = clock.iso(datetime.fromisoformat(card[k]))
        post_card(payload["binding_id"], card_type, card)

    on_event.__qualname__ = "on_" + event_type.replace(".", "_")
    consumer(event_type)(on_event)


_followup_card("followup.task_due", "followup_task")
_followup_card("followup.task_reminder", "followup_task_reminder")


def hide_message(caller, conversation_id: str, seq: int) -> dict:
    """The patient deletes a message from their own view; the record itself is kept."""
    conv = get_conversation(caller, conversation_id)
    if _side(caller, conv) != "patient":
        raise NotFound("message not found")
    try:
        Message(conversation_id, seq).update(actions=[Message.hidden_for_patient.set(True)],
                                             condition=Message.seq.exists())
    except UpdateError:
        raise NotFound("message not found")
    return {"ok": True}


def group_send(caller, group: str, text: str) -> int:
    members = bindings.group_members(caller.account_id, group)
    if len(members) > GROUP_MAX:
        raise Unprocessable(f"a group message reaches at most {GROUP_MAX} patients", code="group_too_large")
    sent = 0
    for b in members:
        try:
            send(caller, b.binding_id, "text", text, [])
            sent += 1
        except (NotFound, Unprocessable):
            continue  # no conversation yet, or inactive
    return sent


# --- attachments -----------------------------------------------------------------------------

def create_attachment(caller, conversation_id: str, content_type: str, size: int) -> AttachmentUpload:
    conv = get_conversation(caller, conversation_id)
    att_id = new_id()
    key = f"conversations/{conv.conversation_id}/{att_id}"
    post = client("s3").generate_presigned_post(
        get_settings().attachments_bucket, key,
        Fields={"Content-Type": content_type},
        Conditions=[{"Content-Type": content_type}, ["content-length-range", 1, size]],
        ExpiresIn=UPLOAD_TTL_S)
    Attachment(att_id, conversation_id=conv.conversation_id, uploader_id=caller.account_id, key=key,
               content_type=content_type, size=size, created_at=clock.now()).save()
    return AttachmentUpload(attachment_id=att_id, upload_url=post["url"], fields=post["fields"],
                            expires_in=UPLOAD_TTL_S)


def _check_attachments(conv: Conversation, ids: list[str]) -> None:
    found = {a.attachment_id: a for a in Attachment.batch_get(ids)}
    if len(found) != len(set(ids)) or any(a.conversation_id != conv.conversation_id for a in found.values()):
        raise Unprocessable("attachments must be uploaded to this conversation first", code="invalid_attachment")


def attachments_in_conversation(ids: list[str], conversation_id: str) -> bool:
    """Whether every attachment was uploaded to this conversation (for other domains, e.g. a
    follow-up questionnaire's wound photo)."""
    found = {a.attachment_id: a for a in Attachment.batch_get(list(set(ids)))}
    return len(found) == len(set(ids)) and all(a.conversation_id == conversation_id for a in found.values())


def attachment_link(caller, attachment_id: str) -> AttachmentLink:
    try:
        a = Attachment.get(attachment_id)
    except Attachment.DoesNotExist:
        raise NotFound("attachment not found")
    get_conversation(caller, a.conversation_id)
    url = client("s3").generate_presigned_url("get_object", Params={"Bucket": get_settings().attachments_bucket,
                                                                    "Key": a.key}, ExpiresIn=DOWNLOAD_TTL_S)
    return AttachmentLink(attachment_id=attachment_id, url=url, content_type=a.content_type,
                          expires_in=DOWNLOAD_TTL_S)


# --- packages, away mode, consultations -------------------------------------------------------

def _package(doctor_id: str) -> Package:
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
    return package_out(_package(caller.account_id))


def set_away(caller, away: bool, message: str | None) -> PackageOut:
    actions = [Package.away.set(away)]
    actions.append(Package.away_message.set(message) if message else Package.away_message.remove())
    Package(caller.account_id).update(actions=actions)
    return package_out(_package(caller.account_id))


def consultation_out(c: Consultation) -> ConsultationOut:
    return ConsultationOut(consultation_id=c.consultation_id, conversation_id=c.conversation_id, status=c.status,
                           price_fen=int(c.price_fen), order_id=c.order_id, opened_at=clock.iso(c.opened_at),
                           deadline_at=clock.iso(c.deadline_at), ends_at=clock.iso(c.ends_at),
                           answered_at=clock.iso(c.answered_at))


def buy_consultation(caller, conversation_id: str) -> ConsultationOut:
    conv = get_conversation(caller, conversation_id, consistent=True)
    if _side(caller, conv) != "patient":
        raise NotFound("conversation not found")
    if conv.status != "active":
        raise Unprocessable("this follow-up relationship is not active", code="binding_inactive")
    p = _package(conv.doctor_id)
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
    c.update(actions=[Consultation.order_id.set(order.order_id)])
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
            timers.schedule("consultation-end", ends, {"consultation_id": c.consultation_id}, key=c.consultation_id,
                            tx=tx)
            emit(tx, "consultation.opened", {"consultation_id": c.consultation_id,
                                             "conversation_id": c.conversation_id,
                                             "patient_account_id": c.patient_account_id, "doctor_id": c.doctor_id})
    except TransactWriteError:
        return
    post_card(c.conversation_id, "consultation_opened", {"consultation_id": c.consultation_id,
                                                          "ends_at": clock.iso(ends), "messages": int(c.messages)})


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
                             "patient_account_id": c.patient_account_id, "doctor_id": c.doctor_id})
    except TransactWriteError:
        return
    post_card(c.conversation_id, card, {"consultation_id": c.consultation_id})


@consumer("timer.consultation-deadline")
def _on_deadline(event_id: str, payload: dict) -> None:
    """Unanswered by the deadline: refunded in full and closed; the patient is told."""
    c = _consultation(payload["consultation_id"])
    if c is None or c.status != "open" or c.answered_at is not None:
        return
    payments.refund(order_id=c.order_id, amount_fen=None, reason="医生未在时限内回复，全额退款",
                    request_key="reply-deadline")
    _finish(c, "refunded", "consultation.refunded", "consultation_refunded")


@consumer("timer.consultation-end")
def _on_end(event_id: str, payload: dict) -> None:
    c = _consultation(payload["consultation_id"])
    if c is None or c.status != "open":
        return
    if c.answered_at is None:
        _on_deadline(event_id, payload)
        return
    _finish(c, "closed", "consultation.closed", "consultation_closed")
