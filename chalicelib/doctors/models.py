"""Doctors table. Directory indexes are sparse: only verified doctors carry their keys."""

from pynamodb.attributes import ListAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from chalicelib.core.db import meta, register


class _Index(GlobalSecondaryIndex):
    class Meta:
        projection = AllProjection()


class ByHospital(_Index):
    class Meta(_Index.Meta):
        index_name = "by_hospital"

    dir_hospital = UnicodeAttribute(hash_key=True)
    dir_sort = UnicodeAttribute(range_key=True)  # "<department>#<doctor_id>"


class ByDepartment(_Index):
    class Meta(_Index.Meta):
        index_name = "by_department"

    dir_department = UnicodeAttribute(hash_key=True)
    doctor_id = UnicodeAttribute(range_key=True)


class AllVerified(_Index):
    class Meta(_Index.Meta):
        index_name = "all_verified"

    dir_all = UnicodeAttribute(hash_key=True)  # "verified"
    doctor_id = UnicodeAttribute(range_key=True)


class ByStatus(_Index):
    """Operator queue: applications by status, oldest first."""

    class Meta(_Index.Meta):
        index_name = "by_status"

    status = UnicodeAttribute(hash_key=True)
    applied_at_key = UnicodeAttribute(range_key=True)


@register
class Doctor(Model):
    Meta = meta("doctors")
    doctor_id = UnicodeAttribute(hash_key=True)  # = the doctor's account id
    name = UnicodeAttribute()
    hospital = UnicodeAttribute()
    department = UnicodeAttribute()
    title = UnicodeAttribute()
    specialties = ListAttribute(of=UnicodeAttribute, default=list)
    bio = UnicodeAttribute(null=True)
    licence_sealed = UnicodeAttribute()
    licence_masked = UnicodeAttribute()
    status = UnicodeAttribute()  # pending | verified | rejected
    reject_reason = UnicodeAttribute(null=True)
    applied_at = UTCDateTimeAttribute()
    applied_at_key = UnicodeAttribute()
    verified_at = UTCDateTimeAttribute(null=True)
    search_text = UnicodeAttribute(null=True)
    dir_all = UnicodeAttribute(null=True)
    dir_hospital = UnicodeAttribute(null=True)
    dir_department = UnicodeAttribute(null=True)
    dir_sort = UnicodeAttribute(null=True)

    by_hospital = ByHospital()
    by_department = ByDepartment()
    all_verified = AllVerified()
    by_status = ByStatus()
