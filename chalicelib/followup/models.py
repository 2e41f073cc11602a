"""Follow-up (随访) tables: versioned templates, plans, tasks (one per occurrence that was ever
scheduled), alerts, counters per template item, research consents and exports.

Only the next occurrence of each plan item exists as a task and a durable timer; a plan never
holds more live tasks than it has items. Counters (``TemplateStat``) are kept by the domain's
own event consumers so adherence views read a handful of items, never the tasks.
"""

from pynamodb.attributes import (
    BooleanAttribute,
    JSONAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, KeysOnlyProjection
from pynamodb.models import Model

from chalicelib.core.db import meta, register


class TemplatesByOwner(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_owner"
        projection = AllProjection()

    owner_key = UnicodeAttribute(hash_key=True)  # only on the head item (version 0)
    template_id = UnicodeAttribute(range_key=True)


class TemplatesShared(GlobalSecondaryIndex):
    class Meta:
        index_name = "shared"
        projection = AllProjection()

    share_key = UnicodeAttribute(hash_key=True)  # "dept#<hospital>#<department>" | "library"; head only
    template_id = UnicodeAttribute(range_key=True)


@register
class Template(Model):
    """Version 0 is the head (the latest version number, owner and sharing); versions 1.. are
    immutable snapshots that plans pin."""

    Meta = meta("followup_templates")
    template_id = UnicodeAttribute(hash_key=True)
    version = NumberAttribute(range_key=True)
    latest = NumberAttribute(default=1)
    owner_id = UnicodeAttribute()  # a doctor's account id, or "library"
    owner_key = UnicodeAttribute(null=True)
    share_key = UnicodeAttribute(null=True)
    name = UnicodeAttribute()
    anchor_type = UnicodeAttribute()  # visit | discharge | surgery | first_dose
    description = UnicodeAttribute(null=True)
    items = JSONAttribute(default=list)
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()

    by_owner = TemplatesByOwner()
    shared = TemplatesShared()


class PlansByDoctor(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_doctor"
        projection = AllProjection()

    doctor_id = UnicodeAttribute(hash_key=True)
    plan_id = UnicodeAttribute(range_key=True)


class PlansByProfile(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_profile"
        projection = AllProjection()

    profile_id = UnicodeAttribute(hash_key=True)
    plan_id = UnicodeAttribute(range_key=True)


class PlansByPair(GlobalSecondaryIndex):
    """Live plans of one doctor–profile pair (sparse: removed when the plan stops)."""

    class Meta:
        index_name = "by_pair"
        projection = KeysOnlyProjection()

    live_pair = UnicodeAttribute(hash_key=True)  # "<doctor_id>#<profile_id>"
    plan_id = UnicodeAttribute(range_key=True)


class PlansByDoctorTemplate(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_doctor_template"
        projection = AllProjection()

    doctor_template = UnicodeAttribute(hash_key=True)  # "<doctor_id>#<template_id>"
    plan_id = UnicodeAttribute(range_key=True)


@register
class Plan(Model):
    Meta = meta("followup_plans")
    plan_id = UnicodeAttribute(hash_key=True)
    doctor_id = UnicodeAttribute()
    profile_id = UnicodeAttribute()
    patient_account_id = UnicodeAttribute()
    binding_id = UnicodeAttribute()
    patient_name = UnicodeAttribute()
    template_id = UnicodeAttribute()
    template_version = NumberAttribute()
    doctor_template = UnicodeAttribute()
    name = UnicodeAttribute()
    anchor_type = UnicodeAttribute()
    anchor_date = UnicodeAttribute()  # YYYY-MM-DD, Asia/Shanghai
    items = JSONAttribute(default=list)  # the pinned version's items (a template edit never reaches here)
    status = UnicodeAttribute()  # active | paused | stopped
    live_pair = UnicodeAttribute(null=True)
    stop_reason = UnicodeAttribute(null=True)
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()

    by_doctor = PlansByDoctor()
    by_profile = PlansByProfile()
    by_pair = PlansByPair()
    by_doctor_template = PlansByDoctorTemplate()


@register
class Task(Model):
    """One occurrence of one plan item. ``gen`` changes whenever its due time is recomputed, so
    a timer of an earlier generation finds nothing to do."""

    Meta = meta("followup_tasks")
    plan_id = UnicodeAttribute(hash_key=True)
    task_id = UnicodeAttribute(range_key=True)  # "<item_id>.<occurrence:04d>"
    item_id = UnicodeAttribute()
    occurrence = NumberAttribute()
    kind = UnicodeAttribute()
    status = UnicodeAttribute()  # scheduled | open | completed | missed | cancelled
    gen = NumberAttribute(default=1)
    due_at = UTCDateTimeAttribute()
    window_ends_at = UTCDateTimeAttribute()
    remind_at = UTCDateTimeAttribute()
    reminded = BooleanAttribute(default=False)
    opened_at = UTCDateTimeAttribute(null=True)
    completed_at = UTCDateTimeAttribute(null=True)
    answers = JSONAttribute(null=True)  # health data: the patient's answers
    score = NumberAttribute(null=True)
    band = UnicodeAttribute(null=True)
    alert_ids = JSONAttribute(null=True)


class AlertsOpenByDoctor(GlobalSecondaryIndex):
    """Open alerts only (sparse), urgent first, oldest first within a severity."""

    class Meta:
        index_name = "open_by_doctor"
        projection = AllProjection()

    open_doctor = UnicodeAttribute(hash_key=True)
    open_key = UnicodeAttribute(range_key=True)  # "<0 urgent|1 routine>#<raised_at>#<alert_id>"


class AlertsByPair(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_pair"
        projection = AllProjection()

    pair = UnicodeAttribute(hash_key=True)  # "<doctor_id>#<profile_id>"
    alert_id = UnicodeAttribute(range_key=True)


@register
class Alert(Model):
    Meta = meta("followup_alerts")
    alert_id = UnicodeAttribute(hash_key=True)
    doctor_id = UnicodeAttribute()
    profile_id = UnicodeAttribute()
    patient_account_id = UnicodeAttribute()
    patient_name = UnicodeAttribute()
    pair = UnicodeAttribute()
    plan_id = UnicodeAttribute()
    task_id = UnicodeAttribute()
    rule_id = UnicodeAttribute()
    rule_text = UnicodeAttribute()
    severity = UnicodeAttribute()  # urgent | routine
    status = UnicodeAttribute()  # open | acknowledged
    open_doctor = UnicodeAttribute(null=True)
    open_key = UnicodeAttribute(null=True)
    raised_at = UTCDateTimeAttribute()
    raise_count = NumberAttribute(default=1)
    acknowledged_at = UTCDateTimeAttribute(null=True)
    acknowledged_by = UnicodeAttribute(null=True)
    note = UnicodeAttribute(null=True)

    open_by_doctor = AlertsOpenByDoctor()
    by_pair = AlertsByPair()


@register
class TemplateStat(Model):
    """Counters per template item (``item_id``) and for the whole template (``_all``)."""

    Meta = meta("followup_stats")
    template_id = UnicodeAttribute(hash_key=True)
    item_id = UnicodeAttribute(range_key=True)
    scheduled = NumberAttribute(default=0)
    completed = NumberAttribute(default=0)
    missed = NumberAttribute(default=0)
    cancelled = NumberAttribute(default=0)
    answered = NumberAttribute(default=0)  # questionnaires answered
    alerts = NumberAttribute(default=0)
    plans = NumberAttribute(default=0)
    # delay (completion − due) histogram, hours: <1, <6, <12, <24, <48, <72, ≥72
    d0 = NumberAttribute(default=0)
    d1 = NumberAttribute(default=0)
    d2 = NumberAttribute(default=0)
    d3 = NumberAttribute(default=0)
    d4 = NumberAttribute(default=0)
    d5 = NumberAttribute(default=0)
    d6 = NumberAttribute(default=0)


@register
class ResearchConsent(Model):
    """``current`` holds the profile's standing consent; ``h#<ulid>`` items are its history."""

    Meta = meta("followup_consents")
    profile_id = UnicodeAttribute(hash_key=True)
    key = UnicodeAttribute(range_key=True)
    account_id = UnicodeAttribute()
    status = UnicodeAttribute()  # granted | withdrawn
    version = UnicodeAttribute()
    at = UTCDateTimeAttribute()


@register
class Export(Model):
    Meta = meta("followup_exports")
    export_id = UnicodeAttribute(hash_key=True)
    doctor_id = UnicodeAttribute()
    template_id = UnicodeAttribute()
    status = UnicodeAttribute()  # queued | running | ready | failed
    plans_seen = NumberAttribute(default=0)
    patients = NumberAttribute(default=0)
    rows = NumberAttribute(default=0)
    parts = NumberAttribute(default=0)
    salt = UnicodeAttribute()  # per-export pseudonym key (never shown)
    key = UnicodeAttribute(null=True)
    created_at = UTCDateTimeAttribute()
    finished_at = UTCDateTimeAttribute(null=True)
