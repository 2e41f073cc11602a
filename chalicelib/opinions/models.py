"""Second-opinion (二次诊疗) tables: experts, cases, case records, the case thread, counters."""

from pynamodb.attributes import (
    BooleanAttribute,
    JSONAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from chalicelib.core.db import meta, register, string_list


class _Index(GlobalSecondaryIndex):
    class Meta:
        projection = AllProjection()


class ExpertsListed(_Index):
    class Meta(_Index.Meta):
        index_name = "listed"

    listed = UnicodeAttribute(hash_key=True)  # "yes" while the expert offers second opinions (sparse)
    doctor_id = UnicodeAttribute(range_key=True)


@register
class Expert(Model):
    """A verified doctor who offers second opinions. ``open_cases`` is the current load."""

    Meta = meta("opinion_experts")
    doctor_id = UnicodeAttribute(hash_key=True)
    name = UnicodeAttribute()
    hospital = UnicodeAttribute()
    department = UnicodeAttribute()
    title = UnicodeAttribute()
    specialties = string_list(default=list)
    price_fen = NumberAttribute()
    available = BooleanAttribute(default=True)
    max_open = NumberAttribute(default=5)
    open_cases = NumberAttribute(default=0)
    bio = UnicodeAttribute(null=True)
    listed = UnicodeAttribute(null=True)
    updated_at = UTCDateTimeAttribute()
    by_listed = ExpertsListed()


@register
class ExpertSpecialty(Model):
    """One row per (specialty, expert) so matching by specialty is one Query."""

    Meta = meta("opinion_expert_specialties")
    specialty = UnicodeAttribute(hash_key=True)
    doctor_id = UnicodeAttribute(range_key=True)


class ByAccount(_Index):
    class Meta(_Index.Meta):
        index_name = "by_account"

    account_id = UnicodeAttribute(hash_key=True)
    case_id = UnicodeAttribute(range_key=True)


class ByHolder(_Index):
    """The expert currently holding a case (sparse: removed on decline, timeout, refund, report)."""

    class Meta(_Index.Meta):
        index_name = "by_holder"

    holder_id = UnicodeAttribute(hash_key=True)
    case_id = UnicodeAttribute(range_key=True)


class ByQueue(_Index):
    """Operator queues: cases waiting for triage or matching (sparse)."""

    class Meta(_Index.Meta):
        index_name = "by_queue"

    queue = UnicodeAttribute(hash_key=True)  # triage | matching
    case_id = UnicodeAttribute(range_key=True)


@register
class Case(Model):
    Meta = meta("opinion_cases")
    case_id = UnicodeAttribute(hash_key=True)
    account_id = UnicodeAttribute()
    profile_id = UnicodeAttribute()
    patient_name = UnicodeAttribute()
    reason = UnicodeAttribute()  # treatment_choice | diagnosis_doubt | other
    questions = string_list()
    diagnosis = UnicodeAttribute()
    treating_hospital = UnicodeAttribute()
    treating_doctor = UnicodeAttribute(null=True)
    history = JSONAttribute(default=dict)
    specialty = UnicodeAttribute()
    requested_expert_id = UnicodeAttribute(null=True)
    price_fen = NumberAttribute()
    order_id = UnicodeAttribute(null=True)
    # awaiting_payment | triage | needs_records | matching | assigned | accepted | reported
    # | withdrawn | refunded | cancelled
    status = UnicodeAttribute()
    queue = UnicodeAttribute(null=True)
    holder_id = UnicodeAttribute(null=True)
    expert_id = UnicodeAttribute(null=True)  # the expert who accepted (kept after the report)
    attempt = NumberAttribute(default=0)  # how many experts have been asked
    tried = string_list(default=list)
    records_note = UnicodeAttribute(null=True)
    summary = UnicodeAttribute(null=True)
    completed_at = UTCDateTimeAttribute(null=True)
    deadline_at = UTCDateTimeAttribute(null=True)
    assigned_at = UTCDateTimeAttribute(null=True)
    respond_by = UTCDateTimeAttribute(null=True)
    accepted_at = UTCDateTimeAttribute(null=True)
    report = JSONAttribute(null=True)
    published_at = UTCDateTimeAttribute(null=True)
    followups = NumberAttribute(default=0)
    refund_reason = UnicodeAttribute(null=True)
    ended_at = UTCDateTimeAttribute(null=True)
    outcome_requested = BooleanAttribute(default=False)
    outcome = JSONAttribute(null=True)
    created_at = UTCDateTimeAttribute()
    by_account = ByAccount()
    by_holder = ByHolder()
    by_queue = ByQueue()


@register
class CaseRecord(Model):
    """A record (report, imaging, pathology, discharge summary) by presigned S3 upload; it counts
    (the expert and operators see it) once ``uploaded_at`` says its file was found in the bucket."""

    Meta = meta("opinion_records")
    case_id = UnicodeAttribute(hash_key=True)
    record_id = UnicodeAttribute(range_key=True)
    kind = UnicodeAttribute()
    title = UnicodeAttribute(null=True)
    key = UnicodeAttribute()
    content_type = UnicodeAttribute()
    size = NumberAttribute()
    uploader_id = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()
    uploaded_at = UTCDateTimeAttribute(null=True)


@register
class CaseMessage(Model):
    """The case thread: the expert's questions, the patient's answers, follow-ups and addenda."""

    Meta = meta("opinion_thread")
    case_id = UnicodeAttribute(hash_key=True)
    message_id = UnicodeAttribute(range_key=True)  # ULID: time-ordered
    kind = UnicodeAttribute()  # question | answer | followup | addendum
    sender_role = UnicodeAttribute()  # expert | patient
    sender_id = UnicodeAttribute()
    text = UnicodeAttribute()
    reply_to = UnicodeAttribute(null=True)
    created_at = UTCDateTimeAttribute()


@register
class Counter(Model):
    """Operator statistics kept as atomic counters (``ADD``), never computed by a scan."""

    Meta = meta("opinion_counters")
    name = UnicodeAttribute(hash_key=True)  # "all"
    paid = NumberAttribute(default=0)
    reports = NumberAttribute(default=0)
    confirmed = NumberAttribute(default=0)
    refined = NumberAttribute(default=0)
    different = NumberAttribute(default=0)
    turnaround_s = NumberAttribute(default=0)  # sum over reports: completion → publication
    refunds = NumberAttribute(default=0)
    refunds_withdrawn = NumberAttribute(default=0)
    refunds_no_expert = NumberAttribute(default=0)
    refunds_deadline = NumberAttribute(default=0)
    refunds_operator = NumberAttribute(default=0)
    outcomes = NumberAttribute(default=0)
    outcomes_followed = NumberAttribute(default=0)
