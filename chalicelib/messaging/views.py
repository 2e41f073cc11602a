"""Message items as stored, response shapes, and which side of a conversation a caller is."""

from __future__ import annotations

from datetime import timedelta

from chalicelib.core import clock, timers
from chalicelib.core.errors import NotFound
from chalicelib.core.ids import new_id

from .models import Conversation, Message
from .schemas import ConversationOut, MessageOut

CHAT_RETENTION = timedelta(days=3 * 366)
CONSULT_RETENTION = timedelta(days=15 * 366)


def activity_key(at, conversation_id: str) -> str:
    """The inbox indexes' sort key: latest activity first when read backwards."""
    return f"{timers.due_key(at)}#{conversation_id}"


def preview(kind: str, text: str | None) -> str:
    return {"image": "[图片]", "file": "[文件]", "card": "[卡片]"}.get(kind) or (text or "")[:40]


def new_message(conv: Conversation, seq: int, kind: str, role: str, sender: str | None, *, text=None,
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


def side(caller, conv: Conversation) -> str:
    """'doctor' or 'patient'; 404 for anyone else."""
    if caller.account_id == conv.doctor_id:
        return "doctor"
    if caller.account_id == conv.patient_account_id:
        return "patient"
    raise NotFound("conversation not found")


def conversation_out(caller, conv: Conversation) -> ConversationOut:
    me = side(caller, conv)
    read = int(conv.doctor_read_seq if me == "doctor" else conv.patient_read_seq)
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
