"""Messaging tables: conversations, messages, consultations, doctors' packages, attachments."""

from pynamodb.attributes import (
    BooleanAttribute,
    JSONAttribute,
    NumberAttribute,
    NumberSetAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, IncludeProjection
from pynamodb.models import Model

from chalicelib.core.db import meta, register, string_list

# What an inbox row shows (service.conversation_out) and nothing else: the index is rewritten on
# every send, so everything it holds costs write units each time. Each side's index carries its
# own read marker only, so one side reading does not rewrite the other side's index.
_INBOX_ROW = ["doctor_id", "patient_account_id", "profile_id", "patient_name", "status", "seq", "last_preview",
              "last_at", "free_until", "free_messages", "free_used", "consultation_id", "consult_ends_at",
              "consult_messages_left"]


class DoctorInbox(GlobalSecondaryIndex):
    class Meta:
        index_name = "doctor_inbox"
        projection = IncludeProjection(_INBOX_ROW + ["doctor_read_seq"])

    doctor_id = UnicodeAttribute(hash_key=True)
    activity_key = UnicodeAttribute(range_key=True)  # "<last activity UTC>#<conversation_id>"


class PatientInbox(GlobalSecondaryIndex):
    class Meta:
        index_name = "patient_inbox"
        projection = IncludeProjection(_INBOX_ROW + ["patient_read_seq"])

    patient_account_id = UnicodeAttribute(hash_key=True)
    activity_key = UnicodeAttribute(range_key=True)


@register
class Conversation(Model):
    """One per binding. ``seq`` numbers messages; each side's read marker is a seq, so unread
    counts are ``seq - read_seq`` and stay right under any interleaving of sends and reads."""

    Meta = meta("conversations")
    conversation_id = UnicodeAttribute(hash_key=True)  # = binding id
    doctor_id = UnicodeAttribute()
    patient_account_id = UnicodeAttribute()
    profile_id = UnicodeAttribute()
    patient_name = UnicodeAttribute()
    status = UnicodeAttribute(default="active")  # active | inactive (binding ended or blocked)
    seq = NumberAttribute(default=0)
    doctor_read_seq = NumberAttribute(default=0)
    patient_read_seq = NumberAttribute(default=0)
    activity_key = UnicodeAttribute()
    last_preview = UnicodeAttribute(null=True)
    last_at = UTCDateTimeAttribute()
    free_until = UTCDateTimeAttribute()
    free_messages = NumberAttribute(default=0)
    free_used = NumberAttribute(default=0)
    consultation_id = UnicodeAttribute(null=True)  # the open paid consultation, if any
    consult_ends_at = UTCDateTimeAttribute(null=True)
    consult_messages_left = NumberAttribute(default=0)
    consult_answered = BooleanAttribute(default=False)
    created_at = UTCDateTimeAttribute()
    group_sends = UnicodeSetAttribute(null=True)  # ids of recent group sends delivered here (≤ 15 days)
    doctor_inbox = DoctorInbox()
    patient_inbox = PatientInbox()


@register
class Message(Model):
    Meta = meta("messages")
    conversation_id = UnicodeAttribute(hash_key=True)
    seq = NumberAttribute(range_key=True)
    message_id = UnicodeAttribute()
    kind = UnicodeAttribute()  # text | image | file | card
    sender_role = UnicodeAttribute()  # patient | doctor | system
    sender_id = UnicodeAttribute(null=True)
    doctor_id = UnicodeAttribute()  # participants, so one Query can authorise the page
    patient_account_id = UnicodeAttribute()
    text = UnicodeAttribute(null=True)
    attachment_ids = string_list(null=True)
    card = JSONAttribute(null=True)
    hidden_for_patient = BooleanAttribute(default=False)
    consultation_id = UnicodeAttribute(null=True)
    created_at = UTCDateTimeAttribute()
    retain_until = TTLAttribute()  # ≥3 years for chat, ≥15 years inside a paid consultation


@register
class Package(Model):
    """A doctor's paid consultation package and away mode."""

    Meta = meta("consultation_packages")
    doctor_id = UnicodeAttribute(hash_key=True)
    enabled = BooleanAttribute(default=False)
    price_fen = NumberAttribute(default=0)
    hours = NumberAttribute(default=48)
    messages = NumberAttribute(default=20)
    reply_deadline_hours = NumberAttribute(default=24)
    away = BooleanAttribute(default=False)
    away_message = UnicodeAttribute(null=True)


@register
class Consultation(Model):
    Meta = meta("consultations")
    consultation_id = UnicodeAttribute(hash_key=True)
    conversation_id = UnicodeAttribute()
    doctor_id = UnicodeAttribute()
    patient_account_id = UnicodeAttribute()
    order_id = UnicodeAttribute(null=True)
    status = UnicodeAttribute()  # awaiting_payment | open | closed | refunded | cancelled
    price_fen = NumberAttribute()
    hours = NumberAttribute()
    messages = NumberAttribute()
    reply_deadline_hours = NumberAttribute()
    opened_at = UTCDateTimeAttribute(null=True)
    deadline_at = UTCDateTimeAttribute(null=True)
    ends_at = UTCDateTimeAttribute(null=True)
    answered_at = UTCDateTimeAttribute(null=True)
    closed_at = UTCDateTimeAttribute(null=True)
    created_at = UTCDateTimeAttribute()


@register
class Attachment(Model):
    Meta = meta("attachments")
    attachment_id = UnicodeAttribute(hash_key=True)
    conversation_id = UnicodeAttribute()
    uploader_id = UnicodeAttribute()
    key = UnicodeAttribute()
    content_type = UnicodeAttribute()
    size = NumberAttribute()
    created_at = UTCDateTimeAttribute()


class GroupSendsByDoctor(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_doctor"
        projection = AllProjection()

    doctor_id = UnicodeAttribute(hash_key=True)
    send_id = UnicodeAttribute(range_key=True)  # ULID: newest last


@register
class GroupSend(Model):
    """A doctor's group send (群发): what was sent to whom, and its progress.

    Planned page by page (``pages_planned``), delivered batch by batch (``batches_done``); both
    sets make a redelivered event a no-op for the counters."""

    Meta = meta("group_sends")
    send_id = UnicodeAttribute(hash_key=True)
    doctor_id = UnicodeAttribute()
    audience = JSONAttribute()  # {"all": true} | {"groups": [...]}
    kind = UnicodeAttribute()  # text | card
    text = UnicodeAttribute(null=True)
    card = JSONAttribute(null=True)
    total = NumberAttribute(default=0)
    delivered = NumberAttribute(default=0)
    failed = NumberAttribute(default=0)
    planning_done = BooleanAttribute(default=False)
    pages_planned = NumberSetAttribute(null=True)
    batches_done = NumberSetAttribute(null=True)
    batches = NumberAttribute(default=0)
    created_at = UTCDateTimeAttribute()

    by_doctor = GroupSendsByDoctor()


@register
class GroupSendQuota(Model):
    """Group sends a doctor started on one Asia/Shanghai day: ``doctor_id#YYYY-MM-DD``."""

    Meta = meta("group_send_quota")
    key = UnicodeAttribute(hash_key=True)
    n = NumberAttribute(default=0)
    expires_at = TTLAttribute()
