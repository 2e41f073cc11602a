"""Group send (群发) at scale: one message from a doctor to a group, several groups, or every
active patient — up to ``messaging_group_max_recipients`` (10,000).

The request only checks and records the send (202 with its id): the recipients are counted
(Select=COUNT, the same count the preview shows), the doctor's daily quota is taken and the send
item and its first ``message.group_send_plan`` event are written in one transaction. Delivery
then fans out through the messaging queue:

- ``message.group_send_plan`` reads one page (``PLAN_PAGE`` ids) of the doctor's active bindings
  from the bindings domain and, in one transaction, records the page as planned (a redelivered
  page is a no-op), adds to ``total`` and emits one ``message.group_send_batch`` event per
  ``BATCH`` recipients plus the next page's plan event. Blocked, ended and pending bindings are
  never listed.
- ``message.group_send_batch`` reads the batch's conversations in one consistent BatchGetItem
  and gives each one the message with one TransactWriteItems (message, conversation counters,
  a ``message.created`` event for the notifications domain), conditional on the conversation's
  ``seq`` like any send. The conversation remembers the group sends it received
  (``group_sends``, the last 15 days — longer than a queue keeps a message), so a redelivered
  batch adds no duplicate; then the batch's counts are added to the send once (``batches_done``).

About one DynamoDB call per recipient (``bench/group_send.py``). A group message is the
doctor's: it never counts against the patient's free messages or a consultation, and it moves
the doctor's read marker by one so the doctor's own message is not unread to them while what
the patient wrote before stays unread.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from pynamodb.exceptions import TransactWriteError, UpdateError
from ulid import ULID

from chalicelib.bindings import service as bindings
from chalicelib.core import clock
from chalicelib.core.config import get_settings
from chalicelib.core.errors import NotFound, TooManyRequests, Unprocessable
from chalicelib.core.ids import new_id
from chalicelib.core.observability import logger
from chalicelib.core.outbox import consumer, emit, transaction
from chalicelib.core.pagination import Page, parse_limit, query_page
from chalicelib.core.transact import failed_items

from .models import Conversation, GroupSend, GroupSendQuota, Message
from .schemas import Card, GroupAudience, GroupAudienceOut, GroupMessage, GroupPreview, GroupSendOut
from .sending import SEND_ATTEMPTS, backoff
from .views import activity_key, new_message, preview

PLAN_PAGE = 1000  # binding ids read per plan step (one Query page)
BATCH = 100  # recipients per delivery event
REMEMBER = timedelta(days=15)  # how long a conversation remembers a group send it received


def _groups(audience: dict) -> list[str] | None:
    return None if audience.get("all") else list(audience.get("groups") or [])


def _audience(body: GroupAudience) -> dict:
    return {"all": True} if body.all_patients else {"groups": sorted(set(body.groups))}


def _shanghai_day() -> tuple[str, datetime]:
    """Today's Asia/Shanghai date and when it ends (UTC)."""
    today = clock.now().astimezone(clock.SHANGHAI).date()
    ends = datetime.combine(today + timedelta(days=1), time(0), tzinfo=clock.SHANGHAI).astimezone(UTC)
    return today.isoformat(), ends


def _quota_key(doctor_id: str) -> str:
    return f"{doctor_id}#{_shanghai_day()[0]}"


def _sends_left(doctor_id: str) -> int:
    try:
        used = int(GroupSendQuota.get(_quota_key(doctor_id), consistent_read=True).n or 0)
    except GroupSendQuota.DoesNotExist:
        used = 0
    return max(get_settings().messaging_group_sends_per_day - used, 0)


def preview_recipients(caller, body: GroupAudience) -> GroupPreview:
    n = bindings.count_active(caller.account_id, _groups(_audience(body)))
    return GroupPreview(recipients=n, limit=get_settings().messaging_group_max_recipients,
                        sends_left_today=_sends_left(caller.account_id))


def _card(caller, body: GroupMessage) -> dict | None:
    if body.card is None:
        return None
    card = body.card.model_dump(exclude_none=True)
    if body.card.type == "booking_session":
        from chalicelib.booking import service as booking

        s = booking.get_session(caller, body.card.session_id or "")  # 404 unless the doctor's own
        if s.status != "open":
            raise Unprocessable("the session is not open", code="session_closed")
        card.update(date=s.date, starts_at=s.starts_at, hospital=s.hospital)
    return card


def send_out(g: GroupSend) -> GroupSendOut:
    done = bool(g.planning_done) and int(g.delivered) + int(g.failed) >= int(g.total)
    return GroupSendOut(send_id=g.send_id, status="done" if done else ("sending" if g.planning_done else "planning"),
                        audience=GroupAudienceOut(all_patients=bool(g.audience.get("all")),
                                                  groups=list(g.audience.get("groups") or [])),
                        kind=g.kind, text=g.text, card=Card(**g.card) if g.card else None, total=int(g.total),
                        delivered=int(g.delivered), failed=int(g.failed), created_at=clock.iso(g.created_at))


def start(caller, body: GroupMessage) -> GroupSendOut:
    """202: the send is recorded and fans out through the queue."""
    settings = get_settings()
    audience = _audience(body)
    card = _card(caller, body)
    n = bindings.count_active(caller.account_id, _groups(audience))
    if n == 0:
        raise Unprocessable("no active patient matches", code="no_recipients")
    if n > settings.messaging_group_max_recipients:
        raise Unprocessable(f"a group send reaches at most {settings.messaging_group_max_recipients} patients; "
                            f"this one would reach {n}", code="too_many_recipients")
    now = clock.now()
    day, day_ends = _shanghai_day()
    g = GroupSend(new_id(), doctor_id=caller.account_id, audience=audience, kind="card" if card else "text",
                  text=body.text, card=card, total=0, delivered=0, failed=0, planning_done=False, batches=0,
                  created_at=now)
    limit = settings.messaging_group_sends_per_day
    quota = GroupSendQuota(f"{caller.account_id}#{day}")
    tx = None
    try:
        with transaction() as t:
            tx = t
            t.update(quota, actions=[GroupSendQuota.n.add(1), GroupSendQuota.expires_at.set(day_ends + timedelta(days=1))],
                     condition=GroupSendQuota.n.does_not_exist() | (GroupSendQuota.n < limit))
            t.save(g, condition=GroupSend.send_id.does_not_exist())
            emit(t, "message.group_send_plan", {"send_id": g.send_id, "doctor_id": g.doctor_id, "page": 0,
                                                "cursor": None})
    except TransactWriteError as exc:
        if any(table == GroupSendQuota.Meta.table_name for table, _ in failed_items(tx, exc)):
            retry_after = max(int((day_ends - now).total_seconds()), 1)
            raise TooManyRequests(f"at most {limit} group sends a day", code="group_send_limit",
                                  headers={"Retry-After": str(retry_after)}) from None
        raise
    logger.info("group send started", extra={"send_id": g.send_id, "recipients": n})
    return send_out(g)


def _own(caller, send_id: str) -> GroupSend:
    try:
        g = GroupSend.get(send_id, consistent_read=True)
    except GroupSend.DoesNotExist:
        raise NotFound("group send not found")
    if g.doctor_id != caller.account_id:
        raise NotFound("group send not found")
    return g


def get_send(caller, send_id: str) -> GroupSendOut:
    return send_out(_own(caller, send_id))


def my_sends(caller, limit, cursor) -> Page:
    """The doctor's group sends, newest first: one Query."""
    page = query_page(GroupSend, GroupSend.by_doctor.query, caller.account_id, scan_index_forward=False,
                      limit=parse_limit(str(limit) if limit else None), cursor=cursor)
    return Page([send_out(g) for g in page.items], page.next_cursor)


# --- fan-out (consumers on the messaging queue) ----------------------------------------------

@consumer("message.group_send_plan")
def _on_plan(event_id: str, payload: dict) -> None:
    send_id, page_no = payload["send_id"], int(payload["page"])
    g = GroupSend.get(send_id, consistent_read=True)
    if page_no in (g.pages_planned or set()):
        return  # a redelivered plan step
    page = bindings.active_binding_ids_page(g.doctor_id, _groups(g.audience), payload.get("cursor"), limit=PLAN_PAGE)
    ids = page.items
    per_page = PLAN_PAGE // BATCH
    chunks = [ids[i:i + BATCH] for i in range(0, len(ids), BATCH)]
    tx = None
    try:
        with transaction() as t:
            tx = t
            t.update(GroupSend(send_id), actions=[
                GroupSend.pages_planned.add({page_no}), GroupSend.total.add(len(ids)),
                GroupSend.batches.add(len(chunks)), GroupSend.planning_done.set(page.next_cursor is None)],
                condition=~GroupSend.pages_planned.contains(page_no))
            for i, chunk in enumerate(chunks):
                emit(t, "message.group_send_batch", {"send_id": send_id, "doctor_id": g.doctor_id,
                                                     "batch": page_no * per_page + i, "binding_ids": chunk})
            if page.next_cursor is not None:
                emit(t, "message.group_send_plan", {"send_id": send_id, "doctor_id": g.doctor_id,
                                                    "page": page_no + 1, "cursor": page.next_cursor})
    except TransactWriteError as exc:
        if any(table == GroupSend.Meta.table_name for table, _ in failed_items(tx, exc)):
            logger.info("group send page already planned", extra={"send_id": send_id, "page": page_no})
            return
        raise


@consumer("message.group_send_batch")
def _on_batch(event_id: str, payload: dict) -> None:
    send_id, batch = payload["send_id"], int(payload["batch"])
    g = GroupSend.get(send_id, consistent_read=True)
    if batch in (g.batches_done or set()):
        return  # a redelivered batch that was counted
    ids = list(payload["binding_ids"])
    convs = {c.conversation_id: c for c in Conversation.batch_get(ids, consistent_read=True)}
    delivered = failed = 0
    for conversation_id in ids:
        if _deliver(g, conversation_id, convs.get(conversation_id)):
            delivered += 1
        else:
            failed += 1
    try:
        GroupSend(send_id).update(actions=[GroupSend.delivered.add(delivered), GroupSend.failed.add(failed),
                                           GroupSend.batches_done.add({batch})],
                                  condition=~GroupSend.batches_done.contains(batch))
    except UpdateError as exc:
        if exc.cause_response_code != "ConditionalCheckFailedException":
            raise
        logger.info("group send batch already counted", extra={"send_id": send_id, "batch": batch})
    logger.info("group send batch delivered", extra={"send_id": send_id, "batch": batch, "delivered": delivered,
                                                     "failed": failed})


def _sent_at(send_id: str) -> datetime:
    return ULID.from_str(send_id).datetime


def _deliver(g: GroupSend, conversation_id: str, conv: Conversation | None) -> bool:
    """The message in one conversation, exactly once. False when the conversation is missing or
    not active (the binding was blocked or ended after the send was planned)."""
    for attempt in range(SEND_ATTEMPTS):
        if attempt:
            backoff(attempt)
            try:
                conv = Conversation.get(conversation_id, consistent_read=True)
            except Conversation.DoesNotExist:
                conv = None
        if conv is None or conv.doctor_id != g.doctor_id:
            return False
        received = set(conv.group_sends or ())
        if g.send_id in received:
            return True  # delivered by an earlier run of this batch
        if conv.status != "active":
            return False
        now = clock.now()
        keep = {s for s in received if _sent_at(s) > now - REMEMBER} | {g.send_id}
        card = {**g.card, "group_send_id": g.send_id} if g.card else None
        m = new_message(conv, int(conv.seq) + 1, g.kind, "doctor", g.doctor_id, text=g.text, card=card)
        try:
            with transaction() as tx:
                tx.save(m, condition=Message.seq.does_not_exist())
                tx.update(Conversation(conversation_id), actions=[
                    Conversation.seq.set(int(m.seq)), Conversation.last_at.set(now),
                    Conversation.activity_key.set(activity_key(now, conversation_id)),
                    Conversation.last_preview.set(preview(m.kind, m.text)),
                    Conversation.doctor_read_seq.set(Conversation.doctor_read_seq + 1),
                    Conversation.group_sends.set(keep)],
                    condition=(Conversation.seq == int(conv.seq)) & (Conversation.status == "active"))
                emit(tx, "message.created", {"conversation_id": conversation_id, "seq": int(m.seq),
                                             "message_id": m.message_id, "sender_role": "doctor",
                                             "doctor_id": conv.doctor_id,
                                             "patient_account_id": conv.patient_account_id,
                                             "group_send_id": g.send_id})
            return True
        except TransactWriteError:
            continue  # a concurrent message or a status change: re-read and decide again
    raise RuntimeError(f"conversation {conversation_id} stayed busy; the batch is retried")
