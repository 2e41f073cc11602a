"""Audit trail for personal health data (PIPL): one append-only record per read or write.

Records are keyed by the patient profile whose data was touched, so "who read my data" is one
Query. They carry ids only, never the data itself. They are never updated or deleted by the API.
"""

from __future__ import annotations

from pynamodb.attributes import UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from . import clock
from .db import meta, register
from .ids import new_id


@register
class AuditRecord(Model):
    Meta = meta("audit")
    subject_profile_id = UnicodeAttribute(hash_key=True)
    record_id = UnicodeAttribute(range_key=True)  # ULID: time-ordered
    actor_id = UnicodeAttribute()
    actor_role = UnicodeAttribute()
    action = UnicodeAttribute()  # read | create | update | delete | export
    object_type = UnicodeAttribute()
    object_id = UnicodeAttribute()
    request_id = UnicodeAttribute()
    at = UTCDateTimeAttribute()


def audit_record(*, caller, subject_profile_id: str, action: str, object_type: str, object_id: str,
                 request_id: str) -> AuditRecord:
    return AuditRecord(subject_profile_id, new_id(), actor_id=caller.account_id, actor_role=caller.role,
                       action=action, object_type=object_type, object_id=object_id, request_id=request_id,
                       at=clock.now())


def record(*, tx: TransactWrite | None = None, **kwargs) -> None:
    """Append one record (inside ``tx`` when given: a write and its audit commit together)."""
    rec = audit_record(**kwargs)
    condition = AuditRecord.record_id.does_not_exist()
    if tx is not None:
        tx.save(rec, condition=condition)
    else:
        rec.save(condition=condition)
