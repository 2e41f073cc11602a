"""Request and response bodies of the doctors routes."""

from typing import Literal

from pydantic import Field

from chalicelib.core.schemas import ListQuery, Request, Response

Title = Literal["chief", "associate_chief", "attending", "resident"]  # 主任/副主任/主治/住院医师


class DoctorApply(Request):
    name: str = Field(min_length=1, max_length=40)
    hospital: str = Field(min_length=2, max_length=80)
    department: str = Field(min_length=1, max_length=40)
    city: str | None = Field(default=None, min_length=2, max_length=20, description="城市, e.g. 北京")
    title: Title
    specialties: list[str] = Field(default_factory=list, max_length=20)
    licence_no: str = Field(pattern=r"^[0-9A-Za-z]{8,30}$", description="执业证书编码")
    bio: str | None = Field(default=None, max_length=2000)


class DoctorUpdate(Request):
    title: Title | None = None
    specialties: list[str] | None = Field(default=None, max_length=20)
    bio: str | None = Field(default=None, max_length=2000)


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
    applied_at: str
    verified_at: str | None = None


class DirectoryQuery(ListQuery):
    hospital: str | None = Field(default=None, max_length=80)
    department: str | None = Field(default=None, max_length=40)
    city: str | None = Field(default=None, max_length=20)
    specialty: str | None = Field(default=None, max_length=40)
    q: str | None = Field(default=None, max_length=40, description="a prefix of a name, hospital, department, "
                          "city or specialty")


class AdminDoctorQuery(ListQuery):
    status: Literal["pending", "verified", "rejected"] = "pending"


class RejectRequest(Request):
    reason: str = Field(min_length=2, max_length=500)
