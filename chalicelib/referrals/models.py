"""Surgery referral (名医主刀) tables: partner hospitals, expert surgeons (and one row per
specialty for matching), cases, and the case's documents (records, the host's invitation, the
home hospital's approval)."""

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


class HospitalsListed(_Index):
    class Meta(_Index.Meta):
        index_name = "listed"

    listed = UnicodeAttribute(hash_key=True)  # "yes" while the hospital is an active partner (sparse)
    hospital_id = UnicodeAttribute(range_key=True)


@register
class Hospital(Model):
    """A partner (county) hospital that hosts visiting surgeons. ``windows``: operating-room and
    bed availability, ``[{"kind": "or"|"bed", "starts_on", "ends_on", "capacity"}]`` (Asia/Shanghai dates)."""

    Meta = meta("referral_hospitals")
    hospital_id = UnicodeAttribute(hash_key=True)
    name = UnicodeAttribute()
    level = UnicodeAttribute()  # 3A | 3B | 2A | 2B | 1
    region_code = UnicodeAttribute()  # GB/T 2260 county code, 6 digits
    region_name = UnicodeAttribute()
    departments = string_list(default=list)
    contacts = JSONAttribute(default=list)
    windows = JSONAttribute(default=list)
    active = BooleanAttribute(default=True)
    listed = UnicodeAttribute(null=True)
    updated_at = UTCDateTimeAttribute()
    by_listed = HospitalsListed()


@register
class Surgeon(Model):
    """A verified doctor who operates at partner hospitals: specialties, home region, travel
    windows (``[{"starts_on", "ends_on"}]``), and the cases held now."""

    Meta = meta("referral_surgeons")
    doctor_id = UnicodeAttribute(hash_key=True)
    name = UnicodeAttribute()
    hospital = UnicodeAttribute()
    department = UnicodeAttribute()
    title = UnicodeAttribute()
    specialties = string_list(default=list)
    region_code = UnicodeAttribute()
    available = BooleanAttribute(default=True)
    windows = JSONAttribute(default=list)
    max_open = NumberAttribute(default=5)
    open_cases = NumberAttribute(default=0)
    updated_at = UTCDateTimeAttribute()


@register
class SurgeonSpecialty(Model):
    """One row per (specialty, surgeon): matching by specialty is one Query."""

    Meta = meta("referral_surgeon_specialties")
    specialty = UnicodeAttribute(hash_key=True)
    doctor_id = UnicodeAttribute(range_key=True)


class ByAccount(_Index):
    class Meta(_Index.Meta):
        index_name = "by_account"

    account_id = UnicodeAttribute(hash_key=True)
    case_id = UnicodeAttribute(range_key=True)


class ByReferrer(_Index):
    """The local doctor who referred the case (sparse: patients' own cases have none)."""

    class Meta(_Index.Meta):
        index_name = "by_referrer"

    referrer_id = UnicodeAttribute(hash_key=True)
    case_id = UnicodeAttribute(range_key=True)


class BySurgeon(_Index):
    """The surgeon holding the case now (sparse: cleared on decline, withdrawal, cancellation)."""

    class Meta(_Index.Meta):
        index_name = "by_surgeon"

    surgeon_id = UnicodeAttribute(hash_key=True)
    case_id = UnicodeAttribute(range_key=True)


class ByQueue(_Index):
    class Meta(_Index.Meta):
        index_name = "by_queue"

    queue = UnicodeAttribute(hash_key=True)  # triage | matching (sparse)
    case_id = UnicodeAttribute(range_key=True)


@register
class Case(Model):
    Meta = meta("referral_cases")
    case_id = UnicodeAttribute(hash_key=True)
    account_id = UnicodeAttribute()  # the patient's account (pays, consents, confirms)
    profile_id = UnicodeAttribute()
    patient_name = UnicodeAttribute()
    submitted_by = UnicodeAttribute()  # patient | doctor
    referrer_id = UnicodeAttribute(null=True)  # the local (county) doctor bound to the patient
    referral_consent = JSONAttribute(null=True)  # {"version", "at"}: the patient agreed to the referral
    diagnosis = UnicodeAttribute()
    operation = UnicodeAttribute()  # the proposed operation
    specialty = UnicodeAttribute()
    urgency = UnicodeAttribute()  # routine | soon | urgent
    region_code = UnicodeAttribute()  # preferred region (6 digits)
    window_from = UnicodeAttribute()  # preferred dates (Asia/Shanghai)
    window_to = UnicodeAttribute()
    notes = UnicodeAttribute(null=True)
    fee_fen = NumberAttribute()
    order_id = UnicodeAttribute(null=True)
    # awaiting_consent | awaiting_payment | triage | matching | proposed | accepted | confirmed | done
    # | cancelled | refunded (cancelled with the fee returned)
    status = UnicodeAttribute()
    queue = UnicodeAttribute(null=True)
    surgeon_id = UnicodeAttribute(null=True)
    hospital_id = UnicodeAttribute(null=True)
    tried = string_list(default=list)  # surgeons who declined or withdrew
    attempt = NumberAttribute(default=0)
    proposed_dates = string_list(default=list)  # RFC 3339, from the surgeon
    invitation_doc = UnicodeAttribute(null=True)  # the host hospital's written invitation
    approval_doc = UnicodeAttribute(null=True)  # the surgeon's own hospital's approval
    surgery_consent = JSONAttribute(null=True)  # {"version", "at"}: the patient's informed consent
    surgery_at = UTCDateTimeAttribute(null=True)
    checklist = JSONAttribute(default=list)
    confirmed_at = UTCDateTimeAttribute(null=True)
    done_at = UTCDateTimeAttribute(null=True)
    plan_id = UnicodeAttribute(null=True)  # the post-operative follow-up plan (reserved when done)
    plan_status = UnicodeAttribute(null=True)  # pending | assigned | no_bound_doctor
    plan_doctor_id = UnicodeAttribute(null=True)
    cancel_cause = UnicodeAttribute(null=True)  # patient | surgeon | host | platform | unpaid
    cancel_reason = UnicodeAttribute(null=True)
    refunded = BooleanAttribute(default=False)
    ended_at = UTCDateTimeAttribute(null=True)
    created_at = UTCDateTimeAttribute()
    by_account = ByAccount()
    by_referrer = ByReferrer()
    by_surgeon = BySurgeon()
    by_queue = ByQueue()


@register
class CaseDocument(Model):
    """A document uploaded straight to S3 with a presigned POST: the patient's records, the host
    hospital's invitation, the home hospital's approval."""

    Meta = meta("referral_documents")
    case_id = UnicodeAttribute(hash_key=True)
    doc_id = UnicodeAttribute(range_key=True)
    kind = UnicodeAttribute()  # report | imaging | pathology | discharge_summary | other | invitation | approval
    title = UnicodeAttribute(null=True)
    key = UnicodeAttribute()
    content_type = UnicodeAttribute()
    size = NumberAttribute()
    uploader_id = UnicodeAttribute()
    uploader_role = UnicodeAttribute()  # patient | referrer | surgeon | admin
    created_at = UTCDateTimeAttribute()
