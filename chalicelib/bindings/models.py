"""Bindings tables: doctor codes, bindings, the (doctor, profile) pair guard, doctor settings."""

from pynamodb.attributes import (
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from chalicelib.core.db import meta, register, string_list


@register
class DoctorCode(Model):
    """A stored code: a clinic card (long-lived, revocable) or a visit slip (one-time, ≤24 h).
    Live codes are signed and never stored (see ``codes.py``)."""

    Meta = meta("binding_codes")
    code = UnicodeAttribute(hash_key=True)
    doctor_id = UnicodeAttribute()
    kind = UnicodeAttribute()  # clinic | slip
    status = UnicodeAttribute(default="active")  # active | revoked | used
    label = UnicodeAttribute(null=True)
    phone_index = UnicodeAttribute(null=True)  # slip tied to the patient's phone (blind index)
    created_at = UTCDateTimeAttribute()
    expires_at = UTCDateTimeAttribute(null=True)
    used_by_binding = UnicodeAttribute(null=True)
    purge_at = TTLAttribute(null=True)


class ByDoctor(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_doctor"
        projection = AllProjection()

    doctor_id = UnicodeAttribute(hash_key=True)
    status_key = UnicodeAttribute(range_key=True)  # "<status>#<binding_id>"


class ByPatient(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_patient"
        projection = AllProjection()

    patient_account_id = UnicodeAttribute(hash_key=True)
    status_key = UnicodeAttribute(range_key=True)


@register
class Binding(Model):
    Meta = meta("bindings")
    binding_id = UnicodeAttribute(hash_key=True)
    doctor_id = UnicodeAttribute()
    patient_account_id = UnicodeAttribute()
    profile_id = UnicodeAttribute()
    status = UnicodeAttribute()  # pending | active | rejected | ended | blocked
    status_key = UnicodeAttribute()
    code_kind = UnicodeAttribute()  # live | clinic | slip
    patient_name = UnicodeAttribute()  # display snapshot of the profile's real name
    patient_name_lc = UnicodeAttribute()
    visit_date = UnicodeAttribute()
    visit_type = UnicodeAttribute()  # outpatient | inpatient | surgery
    hospital = UnicodeAttribute()
    diagnosis_sealed = UnicodeAttribute(null=True)  # health data: encrypted at rest
    attachment_ids = string_list(default=list)
    consent_version = UnicodeAttribute()
    consent_at = UTCDateTimeAttribute()
    groups = string_list(default=list)
    requested_at = UTCDateTimeAttribute()
    activated_at = UTCDateTimeAttribute(null=True)
    ended_at = UTCDateTimeAttribute(null=True)
    reject_reason = UnicodeAttribute(null=True)
    free_until = UTCDateTimeAttribute(null=True)
    free_messages = NumberAttribute(default=0)

    by_doctor = ByDoctor()
    by_patient = ByPatient()


@register
class BindingPair(Model):
    """One item per (doctor, profile): the conditional write on it is what allows at most one
    live (pending/active/blocked) binding per pair, and keeps a blocked patient out."""

    Meta = meta("binding_pairs")
    pair_key = UnicodeAttribute(hash_key=True)  # "<doctor_id>#<profile_id>"
    binding_id = UnicodeAttribute()
    status = UnicodeAttribute()


@register
class DoctorSettings(Model):
    """A doctor's follow-up settings and current clinic card."""

    Meta = meta("binding_settings")
    doctor_id = UnicodeAttribute(hash_key=True)
    free_days = NumberAttribute(default=7)
    free_messages = NumberAttribute(default=3)
    visit_window_days = NumberAttribute(default=30)
    clinic_code = UnicodeAttribute(null=True)
