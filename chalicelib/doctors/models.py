"""Doctors tables: applications/profiles, and the public directory's search entries (verified only)."""

from pynamodb.attributes import UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from chalicelib.core.db import meta, register, string_list


class ByStatus(GlobalSecondaryIndex):
    """Operator queue: applications by status, oldest first."""

    class Meta:
        index_name = "by_status"
        projection = AllProjection()

    status = UnicodeAttribute(hash_key=True)
    applied_at_key = UnicodeAttribute(range_key=True)


@register
class Doctor(Model):
    Meta = meta("doctors")
    doctor_id = UnicodeAttribute(hash_key=True)  # = the doctor's account id
    name = UnicodeAttribute()
    hospital = UnicodeAttribute()
    department = UnicodeAttribute()
    city = UnicodeAttribute(null=True)
    title = UnicodeAttribute()
    specialties = string_list(default=list)
    bio = UnicodeAttribute(null=True)
    licence_sealed = UnicodeAttribute()
    licence_masked = UnicodeAttribute()
    status = UnicodeAttribute()  # pending | verified | rejected
    reject_reason = UnicodeAttribute(null=True)
    applied_at = UTCDateTimeAttribute()
    applied_at_key = UnicodeAttribute()
    verified_at = UTCDateTimeAttribute(null=True)
    search_text = UnicodeAttribute(null=True)

    by_status = ByStatus()


@register
class DirectoryEntry(Model):
    """The public directory, one item per (search key, verified doctor), so that every search is
    one Query on one key that reads what it returns: ``all`` · ``h#<hospital>`` ·
    ``d#<department>`` · ``hd#<hospital>#<department>`` · ``c#<city>`` · ``s#<specialty>`` ·
    ``t#<prefix>`` for each prefix (1–5 characters) of the name, hospital, department, city and
    specialties. Each entry carries the list row (a doctor's card without the bio). Written with
    the doctor in one transaction at verification and on each profile change (≤ ~60 entries)."""

    Meta = meta("doctor_directory")
    key = UnicodeAttribute(hash_key=True)
    doctor_id = UnicodeAttribute(range_key=True)
    name = UnicodeAttribute()
    hospital = UnicodeAttribute()
    department = UnicodeAttribute()
    city = UnicodeAttribute(null=True)
    title = UnicodeAttribute()
    specialties = string_list(default=list)
    search_text = UnicodeAttribute()
