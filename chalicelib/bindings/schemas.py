"""Request and response bodies of the bindings routes."""

from datetime import date
from typing import Literal

from pydantic import Field

from chalicelib.accounts.schemas import Phone
from chalicelib.core.schemas import DateStr, ListQuery, Name, Request, Response, Text, Timestamp, Token
from chalicelib.doctors.schemas import DoctorBrief, DoctorCard

VisitType = Literal["outpatient", "inpatient", "surgery"]


class Consent(Request):
    accepted: bool = Field(description="Separate consent (PIPL) to share health data with this doctor")
    version: Token = Field(min_length=1, max_length=20,
                           description="the version of GET /v1/consents/binding the patient was shown")


class ConsentOut(Response):
    kind: str
    version: str = Field(description="send this version back when the patient accepts")
    title: str
    text: str


class ScanRequest(Request):
    code: Token = Field(min_length=10, max_length=400)
    profile_id: Token = Field(min_length=1, max_length=40)
    visit_date: date
    visit_type: VisitType
    hospital: Name = Field(min_length=2, max_length=80)
    diagnosis: Text | None = Field(default=None, max_length=500)
    attachment_ids: list[Token] = Field(default_factory=list, max_length=9)
    consent: Consent


class BindingOut(Response):
    binding_id: str
    doctor_id: str
    profile_id: str
    patient_name: str
    status: str
    code_kind: str
    groups: list[str]
    requested_at: Timestamp
    activated_at: Timestamp | None = None
    ended_at: Timestamp | None = None
    free_until: Timestamp | None = None
    free_messages: int
    reject_reason: str | None = None
    doctor: DoctorBrief | None = Field(default=None, description="the patient's lists: who the doctor is")


class BindingDetail(BindingOut):
    """With the visit evidence (health data: every read is audited)."""

    patient_account_id: str
    visit_date: DateStr
    visit_type: str
    hospital: str
    diagnosis: str | None = None
    attachment_ids: list[str]
    consent_version: str
    consent_at: Timestamp


class ScanResult(BindingOut):
    created: bool = Field(description="false when the scan found an existing binding (idempotent re-scan)")


class LiveCode(Response):
    code: str
    url: str
    expires_at: Timestamp
    expires_in: int


class StoredCode(Response):
    code: str
    kind: str
    url: str
    status: str
    label: str | None = None
    created_at: Timestamp
    expires_at: Timestamp | None = None


class SlipCreate(Request):
    label: Name | None = Field(default=None, max_length=60, description="e.g. the visit it is for")
    patient_phone: Phone | None = Field(default=None, max_length=20)
    valid_hours: int = Field(default=24, ge=1, le=24)



class CodeInfo(Response):
    kind: str
    doctor: DoctorCard


class FollowUpSettings(Response):
    free_days: int
    free_messages: int
    visit_window_days: int


class FollowUpSettingsUpdate(Request):
    free_days: int = Field(ge=0, le=90)
    free_messages: int = Field(ge=0, le=100)
    visit_window_days: int = Field(ge=1, le=365)


class PatientsQuery(ListQuery):
    group: Name | None = Field(default=None, max_length=20)


class PatientSearch(ListQuery):
    """In a POST body: a patient's name never travels in a request line (access logs)."""

    group: Name | None = Field(default=None, max_length=20)
    q: Name = Field(min_length=1, max_length=40, description="part of the patient's name")


class StatusQuery(ListQuery):
    status: Literal["active", "pending", "blocked", "ended", "rejected"] = "active"


class RejectBody(Request):
    reason: Text = Field(min_length=1, max_length=200)


class GroupsBody(Request):
    groups: list[Name] = Field(max_length=10)
