"""Request and response bodies of the doctors routes."""

from typing import Literal

from pydantic import Field

from chalicelib.core.schemas import ListQuery, Name, Request, Response, Text, Timestamp

Title = Literal["chief", "associate_chief", "attending", "resident"]  # 主任/副主任/主治/住院医师


class DoctorApply(Request):
    name: Name = Field(min_length=1, max_length=40)
    hospital: Name = Field(min_length=2, max_length=80)
    department: Name = Field(min_length=1, max_length=40)
    city: Name | None = Field(default=None, min_length=2, max_length=20, description="城市, e.g. 北京")
    title: Title
    specialties: list[Name] = Field(default_factory=list, max_length=20)
    licence_no: str = Field(pattern=r"^[0-9A-Za-z]{8,30}$", description="执业证书编码")
    bio: Text | None = Field(default=None, max_length=2000)


class DoctorUpdate(Request):
    title: Title | None = None
    specialties: list[Name] | None = Field(default=None, max_length=20)
    bio: Text | None = Field(default=None, max_length=2000)


class DoctorBrief(Response):
    """What a list row shows of a doctor (bindings, conversations, orders, bookings)."""

    doctor_id: str
    name: str
    title: Title
    hospital: str
    department: str


class DoctorCard(Response):
    """What anyone may see of a verified doctor."""

    doctor_id: str
    name: str
    hospital: str
    department: str
    city: str | None = None
    title: str
    specialties: list[str]
    bio: str | None = Field(default=None, description="on a doctor's own page; directory rows leave it out")


class DoctorApplication(DoctorCard):
    """What the doctor and operators see."""

    status: str
    licence_masked: str
    reject_reason: str | None = None
    applied_at: Timestamp
    verified_at: Timestamp | None = None


class DirectoryQuery(ListQuery):
    hospital: Name | None = Field(default=None, max_length=80)
    department: Name | None = Field(default=None, max_length=40)
    city: Name | None = Field(default=None, max_length=20)
    specialty: Name | None = Field(default=None, max_length=40)
    q: Name | None = Field(default=None, max_length=40, description="a prefix of a name, hospital, department, "
                          "city or specialty")


class AdminDoctorQuery(ListQuery):
    status: Literal["pending", "verified", "rejected"] = "pending"


class RejectRequest(Request):
    reason: Text = Field(min_length=2, max_length=500)
